"""The cheaper ChannelAlign and RepeatChannels compute what the first versions computed,
with the same weights in the same order, so weights saved before load into them."""

import numpy as np
import pytest
import tensorflow as tf

from dwr_larq import zoo
from dwr_larq.models import layers
from dwr_larq.models.kinds import KINDS

from conftest import randomize_batch_norms


def _first_channel_align(self, inputs, training=None):
    """ChannelAlign.call as first written: concat the whole branch, then cut."""
    extra = self.bn(self.depthwise(inputs), training=training)
    return self.prelu(tf.concat([inputs, extra], axis=-1)[..., : self.width])


def _first_repeat_channels(self, inputs):
    """RepeatChannels.call as first written: enough whole copies, then cut."""
    copies = -(-self.width // inputs.shape[-1])
    return tf.concat([inputs] * copies, axis=-1)[..., : self.width]


def _uses_channel_align(spec) -> bool:
    return KINDS[spec.block].aligns_stem and spec.stem.width != spec.widths[0] and spec.stem.widening == "align"


SPECS = {name: zoo.get_card(name).spec for name in zoo.list_models()}
AFFECTED = [name for name, spec in SPECS.items() if _uses_channel_align(spec) or spec.block == "reactnet_a"]


def _model(name):
    card = zoo.get_card(name)
    size = 32 if card.spec.input_size == 32 else 64  # the function does not depend on the size
    return zoo.build_from_card(card, input_shape=(size, size, 3))


def test_the_zoo_has_models_with_both_layers():
    assert any(_uses_channel_align(SPECS[n]) for n in AFFECTED) and any(SPECS[n].block == "reactnet_a" for n in AFFECTED)


@pytest.mark.parametrize("name", AFFECTED)
def test_outputs_and_weights_are_those_of_the_first_layers(name, monkeypatch, rng):
    new = _model(name)
    randomize_batch_norms(new, rng)
    for layer in new.layers:
        if isinstance(layer, layers.ChannelAlign):
            depthwise = layer.depthwise
            depthwise.set_weights([rng.normal(size=w.shape) for w in depthwise.get_weights()])
    images = rng.uniform(-1, 1, (2, *new.input_shape[1:])).astype("float32")
    expected = new(images, training=False).numpy()

    monkeypatch.setattr(layers.ChannelAlign, "call", _first_channel_align)
    monkeypatch.setattr(layers.RepeatChannels, "call", _first_repeat_channels)
    first = _model(name)
    assert [w.name for w in first.weights] == [w.name for w in new.weights]
    first.set_weights(new.get_weights())
    np.testing.assert_allclose(first(images, training=False).numpy(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("width", [3, 8, 13, 24, 29])
def test_repeat_channels_and_channel_align_at_every_width(width, monkeypatch, rng):
    """Narrower, equal, a whole multiple, and a multiple plus a part of the 8 input channels."""
    inputs = tf.constant(rng.normal(size=(2, 4, 4, 8)).astype("float32"))
    align, repeat = layers.ChannelAlign(width), layers.RepeatChannels(width)
    align.build(inputs.shape)
    align.depthwise.set_weights([rng.normal(size=w.shape) for w in align.depthwise.get_weights()])
    new = [align(inputs).numpy(), repeat(inputs).numpy()]
    first = [_first_channel_align(align, inputs).numpy(), _first_repeat_channels(repeat, inputs).numpy()]
    for got, want in zip(new, first):
        assert got.shape == (2, 4, 4, width)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
