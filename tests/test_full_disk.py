"""A full disk while writing checkpoints, the final model, summaries, flatbuffers and exported
weights: one clear message, the previous output intact, nothing half-written, and a rerun after
space is freed completes (a training run resumes).

The disk is a small tmpfs mounted by the test: a real filesystem, so TensorFlow's and h5py's own
C++ writers meet the full disk too, which a Python write wrapper could not make them do. Mounting
needs root; elsewhere these tests skip and say so.
"""

import errno
import hashlib
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner
from conftest import tiny_card
from weights_helpers import LoopbackServer

from dwr_larq import zoo
from dwr_larq.atomic import NoSpaceError
from dwr_larq.cli.main import main
from dwr_larq.deploy import convert
from dwr_larq.training import publish, runs
from dwr_larq.zoo import cache


class SmallDisk:
    """A 32 MiB tmpfs at ``path``; ``fill()`` takes every free byte, ``free()`` gives them back."""

    def __init__(self, path: Path):
        self.path = path
        self._filler = path / "filler"

    def fill(self):
        chunk = b"\0" * (1 << 20)
        descriptor = os.open(self._filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            while chunk:
                try:
                    os.write(descriptor, chunk)
                except OSError as error:
                    assert error.errno == errno.ENOSPC, error
                    chunk = chunk[: len(chunk) // 2]
        finally:
            os.close(descriptor)
        assert os.statvfs(self.path).f_bavail == 0

    def free(self):
        self._filler.unlink()


@pytest.fixture
def disk(tmp_path):
    path = tmp_path / "disk"
    path.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting the small tmpfs these tests fill needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(path)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield SmallDisk(path)
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


@pytest.fixture
def card(tmp_path):
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(tiny_card()))
    return str(path)


def _leftovers(folder: Path) -> list:
    return sorted(p.name for p in folder.rglob("*") if ".partial" in p.name)


def _model(card, seed):
    tf.keras.utils.set_random_seed(seed)
    return zoo.get_model(card)


def _finished_run(folder: Path, card) -> runs.RunDir:
    run = runs.RunDir(folder)
    run.start({"model": card})
    run.save_model(_model(card, 0))
    run.finish({"accuracy": 0.5, "epochs": 2})
    return run


def _write_model(disk, card, attempt):
    run = runs.RunDir(disk.path / "run")
    run.save_model(_model(card, attempt))
    return run.file(runs.MODEL)


def _write_summary(disk, card, attempt):
    run = runs.RunDir(disk.path / "run")
    run.finish({"accuracy": 0.5 + attempt / 10})
    return run.file(runs.SUMMARY)


_FLATBUFFERS = {}


@pytest.fixture(autouse=True)
def _one_conversion(monkeypatch):
    """LCE converts the tiny model once for the module (10-30 s here); what is tested is the write."""
    real = convert.to_flatbuffer
    monkeypatch.setattr(convert, "to_flatbuffer", lambda model: _FLATBUFFERS.get("tiny") or _FLATBUFFERS.setdefault("tiny", real(model)))


def _write_flatbuffer(disk, card, attempt):
    return Path(convert.convert(_model(card, attempt), disk.path / "tiny.tflite").path)


def _write_export(disk, card, attempt):
    run = disk.path.parent / "finished-run"
    if not run.exists():
        _finished_run(run, card)
    return Path(publish.export_weights(run, name=card, tag=f"try{attempt}", out=disk.path / "export")["card_file"])


WRITERS = {"model.keras": _write_model, "summary.json": _write_summary, "flatbuffer": _write_flatbuffer,
           "export-weights": _write_export}


@pytest.mark.parametrize("writer", WRITERS.values(), ids=WRITERS.keys())
def test_a_full_disk_keeps_the_previous_output_and_a_rerun_completes(disk, card, writer):
    (disk.path / "run").mkdir()
    written = writer(disk, card, 0)
    before = {p: p.read_bytes() for p in written.parent.iterdir() if p.is_file()}
    disk.fill()
    with pytest.raises(NoSpaceError, match=r"no space left on the device writing .*; free some space .* run the same command again"):
        writer(disk, card, 1)
    assert {p: p.read_bytes() for p in written.parent.iterdir() if p.is_file() and p.name != "filler"} == before
    assert _leftovers(disk.path) == []
    disk.free()
    again = writer(disk, card, 1)
    assert again.is_file() and again.stat().st_size > 0
    assert _leftovers(disk.path) == []


def test_a_download_into_a_full_cache_says_so_and_the_next_call_succeeds(disk, tmp_path, monkeypatch):
    served = tmp_path / "served"
    served.mkdir()
    payload = os.urandom(256 * 1024)
    (served / "w.h5").write_bytes(payload)
    monkeypatch.setenv("DWR_LARQ_HOME", str(disk.path / "home"))
    target = cache.cache_path("w.h5")
    target.parent.mkdir(parents=True)
    server = LoopbackServer(served)
    try:
        disk.fill()
        with pytest.raises(NoSpaceError, match=f"no space left on the device writing {target}; free some space"):
            cache.fetch("w.h5", hashlib.sha256(payload).hexdigest(), server.url, "test weights")
        assert sorted(os.listdir(target.parent)) == [".w.h5.lock"]
        disk.free()
        assert cache.fetch("w.h5", hashlib.sha256(payload).hexdigest(), server.url, "test weights").read_bytes() == payload
    finally:
        server.stop()


def test_the_cli_says_it_in_one_line(disk, card):
    disk.fill()
    result = CliRunner().invoke(main, ["convert", card, "-o", str(disk.path / "tiny.tflite")])
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: no space left on the device writing {disk.path / 'tiny.tflite'}; free some space")
    assert "Traceback" not in result.output and not (disk.path / "tiny.tflite").exists()


class _FillDisk(tf.keras.callbacks.Callback):
    def __init__(self, disk, epoch):
        super().__init__()
        self.disk, self.epoch = disk, epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            self.disk.fill()


def test_training_stopped_by_a_full_disk_keeps_its_checkpoints_and_resumes(disk, card, monkeypatch):
    out = disk.path / "run"
    command = ["train", card, "--dataset", "digits", "--recipe", "bireal", "--epochs", "2", "--batch-size", "128",
               "--out", str(out)]
    callbacks = runs.RunDir.callbacks

    def filling(self, step, **kwargs):
        """The run's callbacks, the disk filling at the end of the second epoch just before its
        checkpoint is written (epoch 0 is logged, checkpointed and backed up by then)."""
        chosen = callbacks(self, step, **kwargs)
        first_checkpoint = next(i for i, c in enumerate(chosen) if isinstance(c, tf.keras.callbacks.ModelCheckpoint))
        return chosen[:first_checkpoint] + [_FillDisk(disk, 1)] + chosen[first_checkpoint:]

    monkeypatch.setattr(runs.RunDir, "callbacks", filling)
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 1, result.output
    message = result.output[result.output.index("Error: "):]  # after Keras' progress bar
    assert message.startswith(f"Error: no space left on the device writing {out / 'checkpoints' / 'train'}")
    assert "run the same command again" in message and message.count("\n") == 1
    assert "Traceback" not in result.output
    assert not (out / runs.SUMMARY).exists() and not (out / runs.MODEL).exists()
    # Epoch 0's checkpoint and backup are still whole (a checkpoint reader opens them).
    assert tf.train.load_checkpoint(str(out / "checkpoints" / "train" / "weights")).get_variable_to_shape_map()
    backup = tf.train.latest_checkpoint(str(out / "backup" / "train" / "chief"))
    assert backup is not None and tf.train.load_checkpoint(backup).get_variable_to_shape_map()
    monkeypatch.setattr(runs.RunDir, "callbacks", callbacks)
    disk.free()
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / runs.SUMMARY).read_text())
    assert summary["epochs"] == 2 and np.isfinite(summary["accuracy"])
    assert [int(row["epoch"]) for row in runs.read_history(out / runs.HISTORY)] == [0, 1]
    # TensorFlow's empty weights_temp/ of the failed save is gone too.
    assert _leftovers(out) == [] and not [p for p in out.rglob("*_temp")]
