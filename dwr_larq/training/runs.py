"""Run directories that survive being killed, and never mislead a later resume.

Layout of a run directory::

    config.json           what the run trains (written atomically before training)
    backup/<step>/        BackupAndRestore state: a restart resumes from the last epoch
    checkpoints/<step>/   weights after every epoch (ModelCheckpoint)
    best/                 weights of the best epoch of the final step (by val_accuracy)
    history.csv           one row per epoch (CSVLogger, appended across restarts)
    logs/                 TensorBoard
    model.keras           the final model (written atomically at the end)
    summary.json          accuracy, epochs, images/second, wall time: written last,
                          atomically, so its presence means the run is complete

A directory holding another configuration is refused rather than resumed.

Under multi-worker training every worker runs the same command on the same folder, but
only the chief writes it (``RunDir(path, writer=False)`` on the others): Keras' own
callbacks (checkpoints, backups, TensorBoard) send the other workers' copies to
``workertemp_<task>`` folders and delete them when training ends, and a resume cleans
up what a killed worker left behind.
"""

from __future__ import annotations

import csv
import json
import shutil
import statistics
import time
from pathlib import Path

import tensorflow as tf

from dwr_larq.atomic import PARTIAL_GLOB, atomic_path, check_output_folder, write_atomically
from dwr_larq.training.clones import plain_copy

CONFIG = "config.json"
SUMMARY = "summary.json"
HISTORY = "history.csv"
MODEL = "model.keras"


class Throughput(tf.keras.callbacks.Callback):
    """Adds timings to each epoch's logs, so CSVLogger records them and they survive
    restarts: ``images_per_second`` and ``train_seconds`` (training steps only),
    ``epoch_seconds`` (with validation) and ``wall_seconds`` (since the previous
    epoch ended or training began: also checkpoints and other callbacks)."""

    def __init__(self, images_per_epoch: int):
        super().__init__()
        self.images_per_epoch = images_per_epoch

    def on_train_begin(self, logs=None):
        self._last = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        self._train_end = None

    def on_test_begin(self, logs=None):
        if getattr(self, "_start", None) is not None and self._train_end is None:
            self._train_end = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        end = time.perf_counter()
        train = (self._train_end or end) - self._start
        logs["epoch_seconds"] = end - self._start
        logs["train_seconds"] = train
        logs["images_per_second"] = self.images_per_epoch / train
        logs["wall_seconds"] = end - self._last
        self._start, self._last = None, end


def drop_partial_line(path) -> None:
    """Cut a last line that a kill left without its newline, so appended rows start clean."""
    path = Path(path)
    if not path.is_file():
        return
    text = path.read_bytes()
    if text and not text.endswith(b"\n"):
        path.write_bytes(text[: text.rfind(b"\n") + 1])


def read_history(path) -> list:
    """Epoch rows of ``history.csv`` as dicts of floats, the last row kept per epoch
    (an epoch interrupted after logging but before its backup is trained again)."""
    path = Path(path)
    if not path.is_file():
        return []
    rows = {}
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            try:
                parsed = {key: float(value) for key, value in row.items() if key is not None}
            except (TypeError, ValueError):
                continue  # a line cut short by a kill
            if "epoch" in parsed and len(parsed) == len(row):
                rows[int(parsed["epoch"])] = parsed
    return [rows[epoch] for epoch in sorted(rows)]


class RunDir:
    """One training run's folder; see the module docstring for its layout."""

    def __init__(self, path, writer: bool = True):
        self.path = Path(path)
        self.writer = writer  # False on multi-worker workers other than the chief

    def file(self, name: str) -> Path:
        return self.path / name

    @property
    def complete(self) -> bool:
        return self.file(SUMMARY).is_file()

    def summary(self) -> dict:
        return json.loads(self.file(SUMMARY).read_text())

    def config(self) -> dict | None:
        path = self.file(CONFIG)
        return json.loads(path.read_text()) if path.is_file() else None

    def start(self, config: dict) -> bool:
        """Create the run, or check that an existing one has the same ``config``.

        Returns True when resuming. Raises ``ValueError`` for a folder that holds a
        different run or something that is not a run.
        """
        config = json.loads(json.dumps(config))  # the form it takes on disk
        check_output_folder(self.path)
        existing = self.config() if self.path.is_dir() else None
        if not self.writer:  # the chief checks and creates the folder
            return existing is not None
        if existing is None:
            if self.path.is_dir() and any(self.path.iterdir()):
                raise ValueError(
                    f"{str(self.path)!r} is not empty and is not a dwr-larq run directory (no {CONFIG}); "
                    "choose another --out"
                )
            self.path.mkdir(parents=True, exist_ok=True)
            write_atomically(self.file(CONFIG), json.dumps(config, indent=2) + "\n")
            return False
        if existing != config:
            changed = sorted(key for key in set(existing) | set(config) if existing.get(key) != config.get(key))
            details = "; ".join(f"{key}: {existing.get(key)!r} -> {config.get(key)!r}" for key in changed[:4])
            raise ValueError(
                f"run directory {str(self.path)!r} was started with a different configuration ({details}); "
                "use another --out, or the original settings to resume it"
            )
        drop_partial_line(self.file(HISTORY))
        for leftover in [*self.path.glob(".partial-*"), *self.path.glob(PARTIAL_GLOB)]:
            leftover.unlink()  # temporary files of a write that a kill interrupted
        for leftover in self.path.rglob("workertemp_*"):  # a killed worker's copies
            shutil.rmtree(leftover, ignore_errors=True) if leftover.is_dir() else leftover.unlink()
        return True

    def history(self) -> list:
        return read_history(self.file(HISTORY))

    def best_so_far(self, first_epoch: int, monitor: str = "val_accuracy"):
        values = [row[monitor] for row in self.history() if row["epoch"] >= first_epoch and monitor in row]
        return max(values) if values else None

    def callbacks(self, step: str, *, first_epoch: int, final: bool, images_per_epoch: int) -> list:
        """Callbacks for one step's ``fit``, in the order that keeps a resume truthful:
        the epoch is logged and checkpointed before its backup is written, so a kill
        in between repeats the epoch (a duplicate log row) rather than losing it."""
        callbacks = [
            Throughput(images_per_epoch),
            *([tf.keras.callbacks.CSVLogger(str(self.file(HISTORY)), append=True)] if self.writer else []),
            tf.keras.callbacks.TensorBoard(str(self.file("logs")), write_graph=False, profile_batch=0),
            tf.keras.callbacks.ModelCheckpoint(str(self.path / "checkpoints" / step / "weights"), save_weights_only=True),
        ]
        if final:
            callbacks.append(
                tf.keras.callbacks.ModelCheckpoint(
                    str(self.path / "best" / "weights"),
                    monitor="val_accuracy",
                    mode="max",
                    save_best_only=True,
                    save_weights_only=True,
                    initial_value_threshold=self.best_so_far(first_epoch),
                )
            )
        # Kept after training (delete_checkpoint=False): re-running a finished step
        # restores its final state and trains no epoch, which is how later steps resume.
        callbacks.append(tf.keras.callbacks.BackupAndRestore(str(self.path / "backup" / step), delete_checkpoint=False))
        return callbacks

    def save_model(self, model: tf.keras.Model) -> tf.keras.Model:
        """Save the final Keras model, uncompiled (no optimizer state to mislead a loader),
        float32 and unsynchronized (``clones.plain_copy``), atomically: a temporary file
        renamed into place. Returns the saved copy (every worker gets it; only the
        writer writes)."""
        clean = plain_copy(model)
        if not self.writer:
            return clean
        with atomic_path(self.file(MODEL)) as temporary:
            clean.save(str(temporary))
        return clean

    def finish(self, summary: dict) -> None:
        if self.writer:
            write_atomically(self.file(SUMMARY), json.dumps(summary, indent=2) + "\n")


def epoch_figures(history: list) -> dict:
    """Training images/second (median over epochs, so one epoch's tracing does not skew
    it) and the wall time the logged epochs took, summed over restarts."""
    speeds = [row["images_per_second"] for row in history if "images_per_second" in row]
    return {
        "images_per_second": round(statistics.median(speeds), 2) if speeds else None,
        "wall_seconds": round(sum(row.get("wall_seconds", 0.0) for row in history), 2),
    }
