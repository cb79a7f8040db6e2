"""Top-1 accuracy of a model in Keras and, converted with LCE, in LCE's interpreter.

Both read the same preprocessed batches, so the two figures are directly comparable
(the cards' ``accuracy_keras`` and ``accuracy_tflite``). The flatbuffer runs in LCE's
interpreter (reference kernels on x86, optimized ones on ARM), made by
``dwr_larq.deploy.convert``, which checks the bytes first: a corrupt or truncated
file is a ``ValueError``, never a crash.

The test data is a pipeline (anything with ``dataset``, batches of ``(images, labels)``,
and ``num_examples``, such as ``dwr_larq.training.data.Pipeline``) or an ``(images,
labels)`` pair of arrays, read in batches of ``ARRAY_BATCH``.

LCE's interpreter runs one image at a time, so ``tflite_accuracy`` splits each batch
between single-threaded interpreters in worker processes, one per core, rather than
give one interpreter more threads: the images need nothing from each other, while
TFLite's threads wait on each other spinning, and crawl as soon as another process
wants a core (ResNet20 beside a training run on 2 cores: 71 ms per image with 2
threads, 4.4 ms with 1).
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

from dwr_larq.deploy.convert import lite_interpreter, to_flatbuffer
from dwr_larq.deploy.flatbuffer import check_flatbuffer
from dwr_larq.deploy.predict_worker import predict_each, read_array, write_array

ACCURACY = "accuracy"
ARRAY_BATCH = 500
# Fewer test images than this are read in this process: starting worker processes
# would cost more than they save.
PARALLEL_FROM = 1000


def _image_count(data) -> int:
    """How many images a pipeline or a pair of arrays holds."""
    return len(data[1]) if isinstance(data, tuple) else data.num_examples


def _batches(data):
    """The batches of ``(images, labels)`` of a pipeline or a pair of arrays."""
    if isinstance(data, tuple):
        images, labels = data
        return ((images[i : i + ARRAY_BATCH], labels[i : i + ARRAY_BATCH]) for i in range(0, len(labels), ARRAY_BATCH))
    return data.dataset


def _top1(predict, data) -> dict:
    correct = 0
    for images, labels in _batches(data):
        correct += int(np.sum(np.argmax(predict(images), -1) == np.asarray(labels)))
    return {ACCURACY: correct / _image_count(data), "images": _image_count(data)}


def keras_accuracy(model, data) -> dict:
    """Top-1 accuracy of a Keras model (its softmax or logits) on a pipeline or arrays."""
    return _top1(lambda images: model(images, training=False), data)


class InterpreterPool:
    """``workers`` processes (``deploy.predict_worker``), each holding one single-threaded
    LCE interpreter of ``flatbuffer``; ``predict`` splits a batch of images between them.
    Use it in a ``with`` block, which ends the processes."""

    def __init__(self, flatbuffer: bytes, workers: int):
        flatbuffer = check_flatbuffer(flatbuffer)  # a bad file is a ValueError here, not a dead worker
        command = [sys.executable, "-m", "dwr_larq.deploy.predict_worker"]
        self._processes = [subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
                           for _ in range(workers)]
        for process in self._processes:
            write_array(process.stdin, np.frombuffer(flatbuffer, np.uint8))

    def predict(self, images) -> np.ndarray:
        shards = np.array_split(np.asarray(images, np.float32), len(self._processes))
        jobs = [(process, shard) for process, shard in zip(self._processes, shards) if len(shard)]
        for process, shard in jobs:  # every shard first: the workers run at once
            write_array(process.stdin, shard)
        return np.concatenate([self._receive(process) for process, _ in jobs])

    @staticmethod
    def _receive(process) -> np.ndarray:
        try:
            outputs = read_array(process.stdout)
        except EOFError:
            outputs = None
        if outputs is None:
            raise RuntimeError(f"an LCE interpreter worker stopped (exit status {process.wait()}); its error is above")
        return outputs

    def __enter__(self) -> InterpreterPool:
        return self

    def __exit__(self, error_type, *exc_info) -> None:
        for process in self._processes:
            process.stdin.close()
            if error_type is not None:  # it may be writing outputs nobody will read
                process.kill()
        for process in self._processes:
            process.wait()


def tflite_accuracy(flatbuffer: bytes, data, workers: int | None = None) -> dict:
    """Top-1 accuracy of a flatbuffer through LCE's interpreter: ``workers``
    single-threaded interpreters in processes of their own (default: one per core), or
    one in this process for ``workers=1`` or fewer than ``PARALLEL_FROM`` images."""
    workers = workers or os.cpu_count() or 1
    if workers == 1 or _image_count(data) < PARALLEL_FROM:
        runner = lite_interpreter(flatbuffer, num_threads=1)
        return _top1(lambda images: predict_each(runner, images), data)
    with InterpreterPool(flatbuffer, workers) as pool:
        return _top1(pool.predict, data)


def keras_and_lce_accuracy(model, data, flatbuffer: bytes | None = None, workers: int | None = None) -> dict:
    """The model's top-1 in Keras and in LCE's interpreter (``flatbuffer``, default: the
    model converted now; ``workers`` as in ``tflite_accuracy``), with the cards' keys:
    ``test_images``, ``accuracy_keras``, ``accuracy_tflite``."""
    flatbuffer = to_flatbuffer(model) if flatbuffer is None else flatbuffer
    keras = keras_accuracy(model, data)
    lite = tflite_accuracy(flatbuffer, data, workers=workers)
    return {"test_images": keras["images"], "accuracy_keras": keras[ACCURACY], "accuracy_tflite": lite[ACCURACY]}


def image_model_shapes(flatbuffer: bytes) -> tuple:
    """``(side, channels, classes)`` of a flatbuffer that classifies square NHWC images,
    read by one interpreter; a ``ValueError`` for any other input."""
    runner = lite_interpreter(flatbuffer)
    shape = runner.input_shapes[0]
    if len(shape) != 4 or shape[1] != shape[2]:
        raise ValueError(f"flatbuffer input shape {shape} is not a square NHWC image")
    return int(shape[1]), int(shape[-1]), int(runner.output_shapes[0][-1])
