"""Accuracy of a trained model (a run folder, a Keras file or an LCE flatbuffer) on a
dataset's held-out split.

The accuracy itself, in Keras or in LCE's interpreter, is ``dwr_larq.deploy.accuracy``'s;
this module finds the model, its input size and the data. A ``.tflite`` is read with
``dwr_larq.deploy.flatbuffer.read_flatbuffer``, so a corrupt or truncated file is a
``ValueError`` naming it, never a crash of the interpreter.
"""

from __future__ import annotations

import os
from pathlib import Path

from dwr_larq.deploy.accuracy import image_model_shapes, keras_accuracy, tflite_accuracy
from dwr_larq.deploy.flatbuffer import read_flatbuffer
from dwr_larq.deploy.timer import time_flatbuffer
from dwr_larq.training import data


def tflite_latency(flatbuffer: bytes, runs: int = 50, warmup: int = 5, num_threads: int = 1) -> dict:
    """Single-image latency (ms) on this host, as a dict for tables; the timing itself is
    ``dwr_larq.deploy.timer``'s, the same as ``dwr-larq benchmark``'s."""
    latency = time_flatbuffer(flatbuffer, threads=num_threads, runs=runs, warmup=warmup)
    return {"latency_ms": latency.median_ms, "latency_min_ms": latency.min_ms, "runs": latency.runs, "threads": num_threads}


def load_keras(target, safe_mode: bool | None = None):
    """A Keras model from a finished run directory, a ``.keras``/``.h5`` file or (with
    ``safe_mode=False``) a SavedModel; ``dwr_larq.models.loading`` says what safe mode refuses."""
    from dwr_larq.models import loading
    from dwr_larq.training import runs

    path = Path(target)
    if path.is_dir() and (path / runs.CONFIG).is_file():
        run = runs.RunDir(path)
        if not run.complete:
            raise ValueError(
                f"run directory {str(path)!r} is not finished (no {runs.SUMMARY}); run the same "
                "`dwr-larq train` command again to complete it"
            )
        path = run.file(runs.MODEL)
    try:
        return loading.load_model(path, safe_mode=safe_mode)
    except loading.UnsafeModelError:
        raise
    except (OSError, ValueError, IOError) as error:
        raise ValueError(f"{str(target)!r} is not a loadable Keras model or finished run directory: {error}") from None


def evaluate(target, dataset: str, *, batch_size: int = 64, data_dir=None) -> dict:
    """Accuracy of ``target`` (run dir, Keras model file, or ``.tflite``) on ``dataset``'s test split."""
    batch_size = data.check_batch_size(batch_size)
    if not os.path.exists(target):
        raise ValueError(f"{str(target)!r} does not exist")
    is_tflite = str(target).endswith(".tflite")
    if is_tflite:
        flatbuffer = read_flatbuffer(target)
        size, channels, classes = image_model_shapes(flatbuffer)
    else:
        model = load_keras(target)
        size, channels, classes = model.input_shape[1], model.input_shape[-1], model.output_shape[-1]
    source = data.source(dataset, data_dir, image_size=size)
    # The images take the model's channels (a grey model reads colour data as grey).
    test = data.pipeline(source, "test", batch_size=batch_size, image_size=size, channels=channels)
    if classes != source.num_classes:
        raise ValueError(f"{str(target)!r} predicts {classes} classes but dataset {dataset!r} has {source.num_classes}")
    result = tflite_accuracy(flatbuffer, test) if is_tflite else keras_accuracy(model, test)
    return {"target": str(target), "kind": "tflite" if is_tflite else "keras", "input_size": size, **result}
