"""tf.distribute on CPU: two logical devices match one device, two loopback workers train
one run folder and survive a killed worker, mixed precision trains and converts."""

import csv
import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest
import tensorflow as tf

from dwr_larq.training import runs, strategy
from dwr_larq.training.train import train


ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


def run_python(code: str, *args, timeout=300):
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *map(str, args)], env=ENV,
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


MIRRORED_VERSUS_ONE = """
    import json, sys
    import numpy as np, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    tf.config.experimental.enable_op_determinism()
    from dwr_larq.training.databench import generate_jpegs
    from dwr_larq.training.runs import read_history
    from dwr_larq.training.train import train
    card, out = sys.argv[1], sys.argv[2]
    folder = generate_jpegs(f"{out}/images", images=20, classes=2, size=(16, 16))  # 16 train images
    try:
        train(card, dataset=f"folder:{folder}", epochs=2, batch_size=7, out=f"{out}/odd", strategy="mirrored")
    except ValueError as error:
        refused = str(error)
    result = {"refused": refused}
    for name in ("one", "mirrored"):
        summary = train(card, dataset=f"folder:{folder}", epochs=1, batch_size=8, recipe="bireal",
                        learning_rate=5e-3, out=f"{out}/{name}", strategy=name, verbose=0)
        model = tf.keras.models.load_model(f"{out}/{name}/model.keras")
        result[name] = {"weights": [w.tolist() for w in model.get_weights()],
                        "loss": [row["loss"] for row in read_history(f"{out}/{name}/history.csv")],
                        "distribution": summary.get("distribution")}
    print(json.dumps(result))
"""


def test_mirrored_over_two_cpu_devices_matches_one_device_with_the_same_global_batch(tmp_path, card):
    import numpy as np

    result = json.loads(run_python(MIRRORED_VERSUS_ONE, card, tmp_path).strip().splitlines()[-1])
    assert "batch size 7 (the global batch) is not divisible by the 2 replicas of strategy 'mirrored'" in result["refused"]
    assert not (tmp_path / "odd").exists()
    assert result["mirrored"]["distribution"]["replicas"] == 2 and result["one"]["distribution"] is None
    # Two updates (Adam, lr 5e-3): the epoch's loss agrees to float precision; Adam's
    # sign-like first steps may amplify rounding in the weights, but far less than one
    # update (with per-replica batch norms, or another augmentation, they differed by > 0.1).
    one, mirrored = result["one"], result["mirrored"]
    assert mirrored["loss"] == pytest.approx(one["loss"], rel=1e-4)
    difference = max(np.max(np.abs(np.array(a) - np.array(b))) for a, b in zip(one["weights"], mirrored["weights"]))
    assert difference < 5e-3


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_workers(card, out, ports, log_dir, attempt):
    workers = []
    for index in range(2):
        config = {"cluster": {"worker": [f"127.0.0.1:{port}" for port in ports]}, "task": {"type": "worker", "index": index}}
        log = open(log_dir / f"worker{index}-{attempt}.log", "w")
        command = [sys.executable, "-m", "dwr_larq.cli", "train", card, "--dataset", "digits", "--epochs", "3",
                   "--batch-size", "64", "--recipe", "bireal", "--strategy", "multiworker", "--out", str(out)]
        workers.append(subprocess.Popen(command, env={**ENV, "TF_CONFIG": json.dumps(config)}, stdout=log,
                                        stderr=subprocess.STDOUT))
    return workers


def epochs_backed_up(out) -> int:
    """Epochs BackupAndRestore has saved (its checkpoint ``ckpt-N`` after N epochs)."""
    state = out / "backup" / "train" / "chief" / "checkpoint"
    text = state.read_text() if state.is_file() else ""
    return int(text.split('"ckpt-')[1].split('"')[0]) if '"ckpt-' in text else 0


def epochs_logged(out):
    path = out / runs.HISTORY
    if not path.is_file():
        return []
    with path.open() as handle:
        return [int(row["epoch"]) for row in csv.DictReader(handle) if row.get("epoch", "").isdigit()]


# Two minutes: the slow suite's. A SIGKILLed single-process run resuming stays in the fast
# suite (tests/training/test_train_runs.py).
@pytest.mark.slow
def test_two_loopback_workers_share_one_run_that_survives_a_killed_worker(tmp_path, card):
    out = tmp_path / "run"
    workers = start_workers(card, out, [free_port(), free_port()], tmp_path, 1)
    try:
        deadline = time.time() + 240
        while epochs_backed_up(out) < 1 and time.time() < deadline:
            assert all(worker.poll() is None for worker in workers), "a worker stopped early"
            time.sleep(0.1)
        time.sleep(0.3)  # into epoch 1 (an epoch takes seconds here)
        assert epochs_logged(out) == [0], "epoch 1 ended before the kill: the test did not kill mid-epoch"
        workers[1].send_signal(signal.SIGKILL)
        workers[1].wait()
        time.sleep(1)
        workers[0].send_signal(signal.SIGKILL)  # the chief waits on its peer's collectives
        workers[0].wait()
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
    assert not (out / runs.SUMMARY).exists() and epochs_logged(out) == [0]

    workers = start_workers(card, out, [free_port(), free_port()], tmp_path, 2)
    for index, worker in enumerate(workers):
        assert worker.wait(timeout=300) == 0, (tmp_path / f"worker{index}-2.log").read_text()[-2000:]
    assert epochs_logged(out) == [0, 1, 2], "a finished epoch was trained twice (or one was lost)"
    summary = json.loads((out / runs.SUMMARY).read_text())
    assert summary["epochs"] == 3 and summary["distribution"]["workers"] == 2
    assert not list(out.rglob("workertemp_*")), "a worker's temporary copies were left behind"
    assert "worker 1 finished; the chief wrote the run directory" in (tmp_path / "worker1-2.log").read_text()


def test_mixed_bfloat16_trains_and_converts_like_its_float_twin(tmp_path, card):
    from dwr_larq import zoo
    from dwr_larq.deploy import convert

    out = tmp_path / "run"
    summary = train(card, dataset="digits", epochs=2, batch_size=64, recipe="bireal", learning_rate=5e-3, out=out,
                    mixed_precision="auto", verbose=0)
    assert summary["distribution"]["mixed_precision"] == "mixed_bfloat16"  # the CPU's policy
    assert json.loads((out / runs.CONFIG).read_text())["mixed_precision"] == "mixed_bfloat16"
    losses = [row["loss"] for row in runs.read_history(out / runs.HISTORY)]
    assert losses[1] < losses[0]
    assert tf.keras.mixed_precision.global_policy().name == "float32"  # restored
    saved = tf.keras.models.load_model(str(out / runs.MODEL))
    assert {layer.dtype_policy.name for layer in saved.layers} == {"float32"}
    twin = zoo.build_from_card(zoo.get_card(card), input_shape=(16, 16, 3), num_classes=10)
    counts = [convert.convert(model, tmp_path / f"{name}.tflite").binary_convs for name, model in (("mixed", saved), ("float", twin))]
    assert counts[0] == counts[1] > 0


def test_quantizers_compute_in_the_policy_dtype_from_float32_latent_weights():
    import larq as lq
    from dwr_larq.training import precision

    with precision.global_policy("mixed_bfloat16"):
        layer = lq.layers.QuantConv2D(4, 3, input_quantizer="ste_sign", kernel_quantizer="ste_sign", kernel_constraint="weight_clip")
        outputs = layer(tf.random.normal((1, 5, 5, 2)))
    assert layer.kernel.dtype == tf.float32 and outputs.dtype == tf.bfloat16
    assert set(tf.unique(tf.reshape(tf.cast(layer.kernel_quantizer(tf.cast(layer.kernel, tf.bfloat16)), tf.float32), [-1]))[0].numpy()) <= {-1.0, 1.0}


def test_distiller_scales_the_loss_under_mixed_float16(rng):
    from dwr_larq.training import distill, precision

    with precision.global_policy("mixed_float16"):
        inputs = tf.keras.Input((4, 4, 3))
        flat = tf.keras.layers.Flatten()(inputs)
        student = tf.keras.Model(inputs, tf.keras.layers.Dense(3, activation="softmax", dtype="float32")(tf.keras.layers.Dense(3)(flat)))
        teacher = tf.keras.Model(inputs, tf.keras.layers.Dense(3)(flat))
        distiller = distill.Distiller(student, teacher)
        distiller.compile(optimizer=tf.keras.optimizers.Adam(1e-2))
        before = [w.numpy().copy() for w in student.trainable_weights]
        logs = distiller.fit(rng.normal(size=(8, 4, 4, 3)).astype("float32"), rng.integers(0, 3, 8), verbose=0).history
    assert isinstance(distiller.optimizer, tf.keras.mixed_precision.LossScaleOptimizer)
    assert all(map(lambda v: v == v and abs(v) < 1e3, logs["loss"]))
    assert any((a != b.numpy()).any() for a, b in zip(before, student.trainable_weights))


@pytest.mark.parametrize(
    "environ, message",
    [
        ({}, "strategy 'multiworker' needs TF_CONFIG set on every worker"),
        ({"TF_CONFIG": "{cluster: 1"}, "TF_CONFIG is not valid JSON"),
        ({"TF_CONFIG": '{"cluster": {"worker": ["127.0.0.1:1"]}}'}, "TF_CONFIG must hold a 'cluster' and a 'task'"),
        ({"TF_CONFIG": '{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": 3}}'},
         "TF_CONFIG task index 3 is not in 0..0"),
        ({"TF_CONFIG": '{"cluster": {"ps": ["h:1"]}, "task": {"type": "ps", "index": 0}}'}, "task type(s) ['ps']"),
        ({"TF_CONFIG": '{"cluster": {"worker": ["nohost"]}, "task": {"type": "worker", "index": 0}}'}, "'host:port' strings"),
    ],
)
def test_multiworker_without_a_usable_tf_config_is_one_clear_error(monkeypatch, tmp_path, card, environ, message):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValueError, match=re.escape(message)):
        train(card, dataset="digits", epochs=2, batch_size=8, out=tmp_path / "run", strategy="multiworker")
    assert not (tmp_path / "run").exists()


def test_tf_config_names_the_chief():
    cluster = '{"cluster": {"chief": ["a:1"], "worker": ["b:1", "c:1"]}, "task": {"type": "worker", "index": 1}}'
    assert strategy.read_tf_config(cluster) == strategy.Cluster(workers=3, index=2, is_chief=False)
    assert strategy.read_tf_config(cluster.replace('"worker", "index": 1', '"chief", "index": 0')).is_chief


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(strategy="horovod"), "unknown strategy 'horovod'; choose one of auto, one, mirrored, multiworker, tpu"),
        (dict(strategy="tpu"), "strategy 'tpu': no TPU reachable at 'local'"),
        (dict(mixed_precision="float16"), "mixed precision policy 'float16' cannot train binary layers"),
        (dict(steps_per_execution=0), "steps per execution must be an integer >= 1"),
        (dict(recipe="reactnet_imagenet"), "recipe 'reactnet_imagenet' distils from a real-valued ResNet-34"),
        (dict(recipe="reactnet", epochs=None), "recipe 'reactnet' has no default epochs"),
    ],
)
def test_bad_distribution_input_fails_before_the_run_folder_exists(tmp_path, card, kwargs, message):
    arguments = {"dataset": "digits", "epochs": 2, "batch_size": 8, "out": tmp_path / "run", **kwargs}
    with pytest.raises(ValueError, match=re.escape(message)):
        train(card, **arguments)
    assert not (tmp_path / "run").exists()


def test_copies_keep_synchronized_batch_norms_and_the_saved_copy_drops_them():
    from dwr_larq.training import clones, recipes

    inputs = tf.keras.Input((4, 4, 3))
    model = tf.keras.Model(inputs, tf.keras.layers.BatchNormalization()(tf.keras.layers.Conv2D(2, 3)(inputs)))
    synced = clones.synchronize_batch_norms(model)
    assert synced.layers[-1].synchronized and recipes.with_real_weights(synced).layers[-1].synchronized
    assert not clones.plain_copy(synced).layers[-1].synchronized
