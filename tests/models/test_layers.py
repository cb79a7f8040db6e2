import numpy as np
import pytest
import tensorflow as tf

from dwr_larq.models.layers import ChannelAlign, RepeatChannels, RPReLU, RSign, Shift


def test_rsign_shifts_per_channel_then_signs():
    layer = RSign()
    x = tf.constant([[[[0.5, -0.5, 0.2]]]])
    layer.build(x.shape)
    layer.shift.assign([-1.0, 1.0, 0.0])
    np.testing.assert_array_equal(layer(x).numpy().ravel(), [-1.0, 1.0, 1.0])


def test_rsign_gradient_flows_to_the_shift():
    layer = RSign()
    x = tf.constant(np.full((1, 2, 2, 3), 0.25, np.float32))
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(layer(x))
    (grad,) = tape.gradient(y, [layer.shift])
    assert np.all(grad.numpy() > 0)


def test_rprelu_is_shift_prelu_shift():
    layer = RPReLU(alpha_initializer=0.1)
    x = tf.constant([[[[-2.0, 3.0]]]])
    layer.build(x.shape)
    layer.shift_in.bias.assign([1.0, -1.0])
    layer.shift_out.bias.assign([0.5, 0.5])
    # channel 0: -2 + 1 = -1 -> 0.1 * -1 = -0.1 -> +0.5 = 0.4; channel 1: 3 - 1 = 2 -> 2.5
    np.testing.assert_allclose(layer(x).numpy().ravel(), [0.4, 2.5], rtol=1e-6)


@pytest.mark.parametrize("channels, width", [(4, 6), (4, 4), (4, 11), (6, 3)])
def test_channel_align_reaches_the_width_and_keeps_the_input(channels, width):
    layer = ChannelAlign(width)
    x = tf.random.normal((2, 5, 5, channels))
    y = layer(x, training=False)
    assert y.shape == (2, 5, 5, width)
    assert layer.compute_output_shape(x.shape) == y.shape
    # The first channels are the input itself through PReLU (alpha starts at 0.25).
    kept = x[..., : min(channels, width)].numpy()
    np.testing.assert_allclose(y[..., : kept.shape[-1]].numpy(), np.where(kept > 0, kept, 0.25 * kept), rtol=1e-6)


@pytest.mark.parametrize("width", [3, 8, 10])
def test_repeat_channels_copies_the_input(width):
    x = tf.reshape(tf.range(12, dtype=tf.float32), (1, 1, 3, 4))
    y = RepeatChannels(width)(x).numpy()
    expected = np.concatenate([x.numpy()] * 3, axis=-1)[..., :width]
    np.testing.assert_array_equal(y, expected)


def test_channel_align_rejects_a_zero_width():
    with pytest.raises(ValueError, match="width"):
        ChannelAlign(0)


@pytest.mark.parametrize("layer", [Shift(), RSign(), RPReLU(alpha_initializer=0.3), ChannelAlign(7), RepeatChannels(5)])
def test_layers_round_trip_through_their_config(layer):
    config = tf.keras.layers.serialize(layer)
    again = tf.keras.layers.deserialize(config)
    assert type(again) is type(layer)
    assert again.get_config() == layer.get_config()
