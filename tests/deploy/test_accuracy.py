"""Top-1 in LCE's interpreter: worker processes, one per core, give what one interpreter gives."""

import numpy as np
import pytest
import tensorflow as tf

from dwr_larq.deploy import accuracy
from dwr_larq.deploy.convert import lite_interpreter, to_flatbuffer
from dwr_larq.deploy.predict_worker import predict_each

SHAPE = (8, 8, 1)


@pytest.fixture(scope="module")
def flatbuffer():
    """A tiny float model, quick to convert: what is tested is the splitting, not the kernels."""
    inputs = tf.keras.Input(SHAPE)
    features = tf.keras.layers.GlobalAveragePooling2D()(tf.keras.layers.Conv2D(4, 3, activation="relu")(inputs))
    model = tf.keras.Model(inputs, tf.keras.layers.Dense(10, activation="softmax")(features))
    return to_flatbuffer(model)


def test_worker_processes_give_one_interpreters_outputs_in_order(flatbuffer):
    images = np.random.default_rng(0).normal(size=(7, *SHAPE)).astype(np.float32)
    expected = predict_each(lite_interpreter(flatbuffer), images)
    with accuracy.InterpreterPool(flatbuffer, workers=3) as pool:
        np.testing.assert_allclose(pool.predict(images), expected, rtol=1e-6)
        np.testing.assert_allclose(pool.predict(images[:2]), expected[:2], rtol=1e-6)  # fewer images than workers


def test_accuracy_is_the_same_in_workers_and_in_this_process(flatbuffer, monkeypatch):
    rng = np.random.default_rng(1)
    images, labels = rng.normal(size=(60, *SHAPE)).astype(np.float32), rng.integers(0, 10, 60)
    monkeypatch.setattr(accuracy, "PARALLEL_FROM", 50)
    alone = accuracy.tflite_accuracy(flatbuffer, (images, labels), workers=1)
    assert accuracy.tflite_accuracy(flatbuffer, (images, labels), workers=2) == alone
    assert alone["images"] == 60


def test_a_bad_flatbuffer_is_refused_before_any_worker_starts(flatbuffer):
    with pytest.raises(ValueError, match="flatbuffer"):
        accuracy.InterpreterPool(flatbuffer[: len(flatbuffer) // 2], workers=2)
