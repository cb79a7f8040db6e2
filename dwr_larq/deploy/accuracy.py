"""Top-1 accuracy of a model in Keras and, converted with LCE, in LCE's interpreter.

Both read the same preprocessed batches, so the two figures are directly comparable
(the cards' ``accuracy_keras`` and ``accuracy_tflite``). The flatbuffer runs in LCE's
interpreter (reference kernels on x86, optimized ones on ARM), made by
``dwr_larq.deploy.convert``, which checks the bytes first: a corrupt or truncated
file is a ``ValueError``, never a crash.

The test data is a pipeline (anything with ``dataset``, batches of ``(images, labels)``,
and ``num_examples``, such as ``dwr_larq.training.data.Pipeline``) or an ``(images,
labels)`` pair of arrays, read in batches of ``ARRAY_BATCH``.
"""

from __future__ import annotations

import os

import numpy as np

from dwr_larq.deploy.convert import interpreter, to_flatbuffer

ACCURACY = "accuracy"
ARRAY_BATCH = 500


def _batches(data) -> tuple:
    """``(batches of (images, labels), number of images)`` of a pipeline or a pair of arrays."""
    if isinstance(data, tuple):
        images, labels = data
        return ((images[i : i + ARRAY_BATCH], labels[i : i + ARRAY_BATCH]) for i in range(0, len(labels), ARRAY_BATCH)), len(labels)
    return data.dataset, data.num_examples


def _top1(predict, data) -> dict:
    batches, count = _batches(data)
    correct = 0
    for images, labels in batches:
        correct += int(np.sum(np.argmax(predict(images), -1) == np.asarray(labels)))
    return {ACCURACY: correct / count, "images": count}


def keras_accuracy(model, data) -> dict:
    """Top-1 accuracy of a Keras model (its softmax or logits) on a pipeline or arrays."""
    return _top1(lambda images: model(images, training=False), data)


def tflite_accuracy(flatbuffer: bytes, data, num_threads: int | None = None) -> dict:
    """Top-1 accuracy of a flatbuffer through LCE's interpreter, on every core unless told
    (the predictions do not depend on the thread count)."""
    runner = interpreter(flatbuffer, num_threads=num_threads or os.cpu_count() or 1)
    return _top1(lambda images: runner.predict(np.asarray(images, np.float32)), data)


def keras_and_lce_accuracy(model, data, flatbuffer: bytes | None = None, num_threads: int | None = None) -> dict:
    """The model's top-1 in Keras and in LCE's interpreter (``flatbuffer``, default: the
    model converted now; ``num_threads`` as in ``tflite_accuracy``: 1 on a loaded host,
    where TFLite's worker threads spin-wait), with the cards' keys: ``test_images``,
    ``accuracy_keras``, ``accuracy_tflite``."""
    flatbuffer = to_flatbuffer(model) if flatbuffer is None else flatbuffer
    keras = keras_accuracy(model, data)
    lite = tflite_accuracy(flatbuffer, data, num_threads=num_threads)
    return {"test_images": keras["images"], "accuracy_keras": keras[ACCURACY], "accuracy_tflite": lite[ACCURACY]}


def image_model_shapes(flatbuffer: bytes) -> tuple:
    """``(side, channels, classes)`` of a flatbuffer that classifies square NHWC images,
    read by one interpreter; a ``ValueError`` for any other input."""
    runner = interpreter(flatbuffer)
    shape = runner.input_shapes[0]
    if len(shape) != 4 or shape[1] != shape[2]:
        raise ValueError(f"flatbuffer input shape {shape} is not a square NHWC image")
    return int(shape[1]), int(shape[-1]), int(runner.output_shapes[0][-1])
