"""Training runs: summary and run folder, resume after SIGKILL, refusal of bad input."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from dwr_larq.training import runs
from dwr_larq.training.train import train
from conftest import outputs


def test_train_writes_a_complete_run_and_a_rerun_trains_nothing(tmp_path, card):
    out = tmp_path / "run"
    summary = train(card, dataset="digits", epochs=2, batch_size=128, out=out, learning_rate=5e-3, verbose=0)
    assert summary["epochs"] == summary["planned_epochs"] == 2
    assert [step["name"] for step in summary["steps"]] == ["step1", "step2"]
    assert 0.0 <= summary["accuracy"] <= 1.0 and summary["test_images"] == 360
    assert summary["images_per_second"] > 0 and summary["wall_seconds"] > 0
    for name in ("config.json", "summary.json", "history.csv", "model.keras", "best/weights.index", "logs"):
        assert (out / name).exists(), name
    assert json.loads((out / "summary.json").read_text()) == summary
    assert [int(row["epoch"]) for row in runs.read_history(out / "history.csv")] == [0, 1]
    model = tf.keras.models.load_model(str(out / "model.keras"))
    from dwr_larq.deploy.accuracy import keras_accuracy
    from dwr_larq.training import data

    assert keras_accuracy(model, data.load("digits", "test", batch_size=128, image_size=16))["accuracy"] == pytest.approx(
        summary["accuracy"]
    )
    mtime = (out / "model.keras").stat().st_mtime
    assert train(card, dataset="digits", epochs=2, batch_size=128, out=out, learning_rate=5e-3, verbose=0) == summary
    assert (out / "model.keras").stat().st_mtime == mtime


def test_a_run_folder_is_never_resumed_with_another_configuration(tmp_path, card):
    out = tmp_path / "run"
    runs.RunDir(out).start({"model": "Tiny", "epochs": 3})
    with pytest.raises(ValueError, match=r"different configuration \(epochs: 3 -> 4\)"):
        runs.RunDir(out).start({"model": "Tiny", "epochs": 4})
    other = tmp_path / "holiday-photos"
    other.mkdir()
    (other / "beach.jpg").write_text("")
    with pytest.raises(ValueError, match="not empty and is not a dwr-larq run directory"):
        train(card, dataset="digits", epochs=2, batch_size=8, out=other)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(dataset="cifar11"), "unknown dataset 'cifar11'"),
        (dict(batch_size=0), "batch size must be an integer >= 1, got 0"),
        (dict(epochs=1), "epochs must be an integer >= 2"),
        (dict(recipe="xnor"), "unknown recipe"),
        (dict(dataset="folder:/no/such/folder"), "does not exist"),
        (dict(teacher="NoSuchNet"), "neither an existing saved Keras model"),
        (dict(learning_rate=-1.0), "learning rate must be > 0"),
    ],
)
def test_bad_input_fails_before_the_run_folder_exists(tmp_path, card, kwargs, message):
    arguments = {"dataset": "digits", "epochs": 2, "batch_size": 8, "out": tmp_path / "run", **kwargs}
    with pytest.raises(ValueError, match=message):
        train(card, **arguments)
    assert not (tmp_path / "run").exists()


def test_teacher_with_other_classes_is_refused_before_the_run_folder_exists(tmp_path, card):
    inputs = tf.keras.Input((16, 16, 3))
    outputs = tf.keras.layers.Dense(5, activation="softmax")(tf.keras.layers.Flatten()(inputs))
    tf.keras.Model(inputs, outputs).save(str(tmp_path / "teacher.keras"))
    with pytest.raises(ValueError, match="predicts 5 classes but the student predicts 10"):
        train(card, dataset="digits", epochs=2, batch_size=8, out=tmp_path / "run", teacher=str(tmp_path / "teacher.keras"))
    assert not (tmp_path / "run").exists()


def test_training_with_a_teacher_checkpoints_the_student(tmp_path, card):
    inputs = tf.keras.Input((16, 16, 3))
    outputs = tf.keras.layers.Dense(10, activation="softmax")(tf.keras.layers.Flatten()(inputs))
    tf.keras.Model(inputs, outputs).save(str(tmp_path / "teacher.keras"))
    out = tmp_path / "run"
    summary = train(card, dataset="digits", epochs=2, batch_size=128, out=out, teacher=str(tmp_path / "teacher.keras"), verbose=0)
    assert summary["epochs"] == 2
    assert json.loads((out / "config.json").read_text())["teacher"] == str(tmp_path / "teacher.keras")
    model = tf.keras.models.load_model(str(out / "model.keras"))
    # The checkpoint holds exactly the student: every value in it finds a student variable.
    model.load_weights(str(out / "best" / "weights")).assert_consumed()


def test_history_keeps_the_last_row_of_an_epoch_and_skips_broken_lines(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("epoch,accuracy\n0,0.5\n1,0.6\n1,0.7\n2,oops\n2,0.8\n3,0.9,0.1\n")
    rows = runs.read_history(path)
    assert [(row["epoch"], row["accuracy"]) for row in rows] == [(0, 0.5), (1, 0.7), (2, 0.8)]


def test_resuming_cleans_up_what_a_kill_left_half_written(tmp_path):
    run = runs.RunDir(tmp_path / "run")
    run.start({"epochs": 3})
    run.file("history.csv").write_text("epoch,accuracy\n0,0.5\n1,0.6")
    (run.path / ".partial-123-model.keras").write_text("half a model")
    (run.path / ".summary.json.abc.partial").write_text("{")
    assert run.start({"epochs": 3}) is True
    assert run.file("history.csv").read_text() == "epoch,accuracy\n0,0.5\n"
    assert sorted(p.name for p in run.path.iterdir()) == ["config.json", "history.csv"]


def _command(card, out):
    return [
        sys.executable, "-m", "dwr_larq.cli", "train", card, "--dataset", "digits", "--epochs", "6",
        "--batch-size", "16", "--recipe", "reactnet", "--learning-rate", "0.005", "--out", str(out),
    ]


@pytest.mark.parametrize(
    "step, logged",
    # A kill in step 2 also resumes step 1's finished backup; a kill inside step 1 is the slow suite's.
    [pytest.param("step1", 1, marks=pytest.mark.slow), ("step2", 4)],
    ids=["killed-in-step1", "killed-in-step2"],
)
def test_a_sigkilled_run_resumes_with_the_same_command(tmp_path, card, step, logged):
    out = tmp_path / "run"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    first = subprocess.Popen(_command(card, out), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 240
    # Kill once the step's latest epoch is logged and backed up, in the middle of the next one.
    backup = out / "backup" / step / "chief" / "checkpoint"
    while not (len(runs.read_history(out / "history.csv")) >= logged and backup.exists()):
        assert first.poll() is None, first.stdout.read().decode()
        assert time.monotonic() < deadline, "the run did not get far enough in time"
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert first.returncode == -signal.SIGKILL
    assert not (out / "summary.json").exists()
    assert logged <= len(runs.read_history(out / "history.csv")) < 6

    second = subprocess.run(_command(card, out), capture_output=True, text=True, env=env, timeout=300)
    assert second.returncode == 0, second.stdout + second.stderr
    for epoch in range(1, logged + 1):  # it resumed: no backed-up epoch is trained again
        assert f"Epoch {epoch}/" not in second.stdout
    assert f"Epoch {logged + 1}/" in second.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["epochs"] == summary["planned_epochs"] == 6
    assert [int(row["epoch"]) for row in runs.read_history(out / "history.csv")] == list(range(6))
    model = tf.keras.models.load_model(str(out / "model.keras"))
    assert model.output_shape == (None, 10)
    assert np.isfinite(outputs(model, np.zeros((1, 16, 16, 3), np.float32))).all()
