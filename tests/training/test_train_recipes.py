"""Recipes: epoch split, optimizers and weight decay, and ReActNet's two steps."""

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

from dwr_larq import BackboneSpec, StemSpec, build
from dwr_larq.training import loop, recipes


@pytest.fixture
def tiny():
    spec = BackboneSpec(
        block="reactnet", depths=[1, 1], widths=[8, 16], strides=[1, 2], stem=StemSpec(width=8), input_size=8
    )
    return build(spec, num_classes=4)


def quant_convs(model):
    return [layer for layer in model.layers if isinstance(layer, lq.layers.QuantConv2D)]


def test_epochs_are_split_over_the_steps():
    reactnet = recipes.get_recipe("reactnet")
    assert reactnet.step_epochs(6) == [3, 3]
    assert reactnet.step_epochs(5) == [2, 3]
    assert reactnet.step_epochs(2) == [1, 1]
    assert recipes.get_recipe("bireal").step_epochs(3) == [3]
    with pytest.raises(ValueError, match="epochs must be an integer >= 2, got 1"):
        reactnet.step_epochs(1)
    with pytest.raises(ValueError, match="unknown recipe 'xnor'; known recipes: bireal, reactnet"):
        recipes.get_recipe("xnor")


def test_step_one_has_binary_activations_and_real_weights(tiny, rng):
    step1 = recipes.with_real_weights(tiny)
    assert [layer.name for layer in step1.layers] == [layer.name for layer in tiny.layers]
    convs = quant_convs(step1)
    assert convs
    for conv in convs:
        assert conv.kernel_quantizer is None and conv.kernel_constraint is None
        assert conv.input_quantizer.precision == 1
    # The conv really computes conv(sign(x + shift), W) with the float W.
    conv = convs[0]
    kernel = rng.normal(0, 0.1, conv.kernel.shape).astype(np.float32)
    conv.kernel.assign(kernel)
    conv.input_quantizer.shift.assign(rng.normal(0, 0.1, conv.input_quantizer.shift.shape))
    x = rng.normal(0, 1, (2, 8, 8, conv.kernel.shape[2])).astype(np.float32)
    signs = np.where(x + conv.input_quantizer.shift.numpy() >= 0, 1.0, -1.0).astype(np.float32)
    expected = tf.nn.conv2d(tf.pad(signs, [[0, 0], [1, 1], [1, 1], [0, 0]], constant_values=1.0), kernel, 1, "VALID")
    np.testing.assert_allclose(conv(x), expected, atol=1e-4)


def test_step_two_binarizes_the_weights_it_gets_from_step_one(tiny, rng):
    step1 = recipes.with_real_weights(tiny)
    for variable in step1.trainable_variables:
        variable.assign(rng.normal(0, 0.1, variable.shape))
    recipes.transfer_weights(step1, tiny)
    for source, target in zip(step1.weights, tiny.weights):
        np.testing.assert_array_equal(source.numpy(), target.numpy())
    for conv in quant_convs(tiny):
        assert conv.kernel_quantizer.precision == 1
        # magnitude-aware sign: each output channel uses +-mean|W| of its latent weights.
        binary = conv.kernel_quantizer(tf.constant(conv.kernel.numpy())).numpy()
        scale = np.mean(np.abs(conv.kernel.numpy()), axis=(0, 1, 2))
        np.testing.assert_allclose(np.abs(binary), np.broadcast_to(scale, binary.shape), rtol=1e-5)
        np.testing.assert_array_equal(np.sign(binary), np.where(conv.kernel.numpy() >= 0, 1, -1))


def test_transfer_refuses_models_that_do_not_match(tiny):
    other = tf.keras.Sequential([tf.keras.layers.Dense(3, name="other", input_shape=(2,))])
    with pytest.raises(ValueError, match="have no counterpart"):
        recipes.transfer_weights(other, tiny)


def _decayed(optimizer, name):
    kernel = tf.Variable(np.ones((2, 2), np.float32), name=f"{name}_conv/kernel")
    gamma = tf.Variable(np.ones(2, np.float32), name=f"{name}_bn/gamma")
    optimizer.apply_gradients([(tf.zeros_like(kernel), kernel), (tf.zeros_like(gamma), gamma)])
    return float(kernel.numpy()[0, 0]) < 1.0, float(gamma.numpy()[0]) < 1.0


def test_weight_decay_only_where_the_recipe_says_and_only_on_kernels():
    reactnet, bireal = recipes.get_recipe("reactnet"), recipes.get_recipe("bireal")
    step1, step2 = reactnet.steps
    assert step1.weight_decay > 0 and not step2.weight_decay and not bireal.steps[0].weight_decay
    big = reactnet.replace(learning_rate=0.1)
    big_step1 = recipes.Step("step1", False, 0.5, weight_decay=0.5)
    assert _decayed(big.optimizer(big_step1, updates=10), "a") == (True, False)
    assert _decayed(big.optimizer(step2, updates=10), "b") == (False, False)


def test_the_authors_cifar_recipe_is_sgd_with_momentum_cosine_and_decay_on_kernels():
    recipe = recipes.get_recipe("sgd_cifar")
    (step,) = recipe.steps
    assert (recipe.learning_rate, recipe.momentum, step.weight_decay, recipe.label_smoothing) == (0.1, 0.9, 1e-4, 0.0)
    assert (recipe.reference_batch, recipe.epochs, recipe.learning_rate_for(256)) == (128, 400, 0.2)
    optimizer = recipe.optimizer(step, updates=100)
    assert isinstance(optimizer, tf.keras.optimizers.SGD) and optimizer.momentum == 0.9
    assert float(recipe.schedule_for(100)(100)) == pytest.approx(0.0, abs=1e-9)
    assert _decayed(recipe.optimizer(recipes.Step("train", True, 1.0, weight_decay=0.5), updates=10), "c") == (True, False)


def test_schedules_decay_to_zero_cosine_for_bireal_linear_for_reactnet():
    cosine = recipes.get_recipe("bireal").schedule_for(100)
    linear = recipes.get_recipe("reactnet").schedule_for(100)
    peak = recipes.get_recipe("bireal").learning_rate
    assert float(cosine(25)) == pytest.approx(peak * (1 + np.cos(np.pi / 4)) / 2, rel=1e-5)
    assert float(linear(25)) == pytest.approx(0.75 * recipes.get_recipe("reactnet").learning_rate, rel=1e-5)
    assert float(cosine(100)) == pytest.approx(0.0, abs=1e-9) and float(linear(100)) == pytest.approx(0.0, abs=1e-9)


def test_label_smoothing_loss_matches_the_formula():
    loss = loop.SparseCategoricalCrossentropyWithSmoothing(0.1)
    probs = np.array([[0.7, 0.2, 0.1]], np.float32)
    target = np.array([0.9 + 0.1 / 3, 0.1 / 3, 0.1 / 3])
    assert float(loss(np.array([0]), probs)) == pytest.approx(-np.sum(target * np.log(probs)), rel=1e-5)
