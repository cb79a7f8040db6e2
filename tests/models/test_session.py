"""Throwaway models give their memory back: their custom gradients leave TensorFlow's registry."""

import numpy as np
import tensorflow as tf

from dwr_larq import zoo
from dwr_larq.models.builder import measure_then_clear
from dwr_larq.models.session import custom_gradient_names, throwaway_graphs


def test_a_measured_binary_model_leaves_no_custom_gradient_behind():
    before = custom_gradient_names()
    params = measure_then_clear(lambda: zoo.get_model("ResNet20", input_shape=(32, 32, 3)), lambda m: m.count_params())
    assert params > 0
    assert custom_gradient_names() == before


def test_the_body_registers_custom_gradients_that_the_purge_removes():
    with throwaway_graphs():
        before = custom_gradient_names()
        zoo.get_model("ResNet20", input_shape=(32, 32, 3))
        registered = custom_gradient_names() - before
        assert registered, "larq's quantizers register custom gradients while a model is built"
    assert not registered & custom_gradient_names()


def test_gradients_of_a_function_traced_before_still_resolve():
    model = zoo.get_model("ResNet20", input_shape=(32, 32, 3), num_classes=5)
    forward = tf.function(lambda images: model(images, training=True))
    images = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    forward(images)
    with throwaway_graphs():
        zoo.get_model("ResNet20DWR", input_shape=(32, 32, 3))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(forward(images))
    gradients = tape.gradient(loss, model.trainable_variables)
    assert all(gradient is not None for gradient in gradients)
