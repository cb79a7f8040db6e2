"""``dwr-larq train`` and ``dwr-larq evaluate``: clear errors, and Keras vs flatbuffer evaluation."""

import json

import pytest
from click.testing import CliRunner

from dwr_larq.cli.main import main


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def train_args(card, out, **changes):
    options = {"--dataset": "digits", "--epochs": 2, "--batch-size": 8, "--out": out, **changes}
    return ["train", card, *[item for pair in options.items() for item in pair]]


@pytest.mark.parametrize(
    "changes, exit_code, message",
    [
        ({"--dataset": "imagenet2013"}, 1, "unknown dataset 'imagenet2013'; did you mean"),
        ({"--batch-size": 0}, 2, "Invalid value for '--batch-size': 0 is not in the range x>=1"),
        ({"--dataset": "svhn_cropped", "--data-dir": "."}, 1, "dataset 'svhn_cropped' is not prepared in ."),
    ],
)
def test_train_bad_input_is_one_clear_message_and_no_run_folder(tmp_path, card, changes, exit_code, message):
    result = invoke(*train_args(card, tmp_path / "run", **changes))
    assert result.exit_code == exit_code
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "run").exists()


def test_train_refuses_a_one_class_folder(tmp_path, card):
    (tmp_path / "images" / "cat").mkdir(parents=True)
    (tmp_path / "images" / "cat" / "1.png").write_bytes(b"")
    result = invoke(*train_args(card, tmp_path / "run", **{"--dataset": f"folder:{tmp_path / 'images'}"}))
    assert result.exit_code == 1 and "has only one class ('cat')" in result.output
    assert not (tmp_path / "run").exists()


def test_train_then_evaluate_the_run_and_its_flatbuffer(tmp_path, card):
    out = tmp_path / "run"
    result = invoke(*train_args(card, out, **{"--batch-size": 128, "--learning-rate": 0.005}))
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert f"accuracy {summary['accuracy']:.4f} after 2/2 epochs" in result.output

    keras = invoke("evaluate", out, "--dataset", "digits", "--json")
    assert keras.exit_code == 0, keras.output
    keras = json.loads(keras.output)
    assert keras["kind"] == "keras" and keras["images"] == 360
    assert keras["accuracy"] == pytest.approx(summary["accuracy"])

    import tensorflow as tf

    from dwr_larq.deploy import convert

    convert.convert(tf.keras.models.load_model(str(out / "model.keras")), tmp_path / "tiny.tflite")
    lite = invoke("evaluate", tmp_path / "tiny.tflite", "--dataset", "digits", "--json")
    assert lite.exit_code == 0, lite.output
    lite = json.loads(lite.output)
    assert lite["kind"] == "tflite" and lite["input_size"] == 16
    assert abs(lite["accuracy"] - keras["accuracy"]) <= 2 / 360  # a sign flip or two at most


def test_evaluate_refuses_an_unfinished_run_and_other_classes(tmp_path, card):
    from dwr_larq.training import runs

    runs.RunDir(tmp_path / "run").start({"model": "Tiny"})
    result = invoke("evaluate", tmp_path / "run", "--dataset", "digits")
    assert result.exit_code == 1 and "is not finished (no summary.json)" in result.output
    import tensorflow as tf

    inputs = tf.keras.Input((16, 16, 3))
    outputs = tf.keras.layers.Dense(5, activation="softmax")(tf.keras.layers.Flatten()(inputs))
    tf.keras.Model(inputs, outputs).save(str(tmp_path / "five.keras"))
    result = invoke("evaluate", tmp_path / "five.keras", "--dataset", "digits")
    assert result.exit_code == 1 and "predicts 5 classes but dataset 'digits' has 10" in result.output


def test_train_on_an_image_folder(tmp_path, card):
    from data_helpers import write_pngs

    write_pngs(tmp_path / "images", {"circle": 10, "square": 10}, size=(24, 24))
    out = tmp_path / "run"
    result = invoke(*train_args(card, out, **{"--dataset": f"folder:{tmp_path / 'images'}", "--recipe": "bireal"}))
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["train_images"], summary["test_images"], summary["epochs"]) == (16, 4, 2)
    import tensorflow as tf

    assert tf.keras.models.load_model(str(out / "model.keras")).output_shape == (None, 2)


@pytest.mark.parametrize("under", ["file", "file/run", "file/deeper/run"])
def test_train_out_at_or_under_a_regular_file_is_named(tmp_path, card, under):
    (tmp_path / "file").write_text("not a folder")
    result = invoke(*train_args(card, tmp_path / under))
    assert result.exit_code in (1, 2) and "Traceback" not in result.output  # 2: click's own check of --out
    assert str(tmp_path / "file") in result.output and "is a file" in result.output
    assert (tmp_path / "file").read_text() == "not a folder"


@pytest.mark.parametrize("data_option", ["--dataset", "--data"])  # --dataset as every command; --data still works
def test_finetune_out_under_a_regular_file_is_named(tmp_path, card, data_option):
    (tmp_path / "file").write_text("")
    weights = tmp_path / "w.h5"
    from dwr_larq import zoo

    zoo.get_model(card).save_weights(str(weights))
    result = invoke("finetune", card, "--weights", weights, data_option, "digits", "--out", tmp_path / "file" / "run")
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert "is a file, not a folder" in result.output


def test_every_data_dir_says_keras_files_may_download():
    for command in ("train", "evaluate", "data-bench", "finetune", "reshape"):
        text = " ".join(invoke(command, "--help").output.split())
        assert "nothing is downloaded" not in text and "(missing everywhere, they are downloaded)" in text, command
