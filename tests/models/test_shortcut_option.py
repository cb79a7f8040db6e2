"""The zero-padded shortcut is a spec option: existing specs keep the 1x1 conv shortcut."""

import numpy as np
import pytest

from dwr_larq import zoo
from dwr_larq.models.builder import build
from dwr_larq.models.spec import BackboneSpec, StemSpec

TINY = BackboneSpec(block="basic", depths=[1, 1], widths=[8, 16], strides=[1, 2], stem=StemSpec(width=8), input_size=16)


def test_zero_padded_shortcuts_are_on_the_lce_tuned_cards_and_the_authors_resnet20s_only():
    cards = [zoo.get_card(name) for name in zoo.list_models()]
    padded = {c.name for c in cards if c.spec.shortcut == "pad"}
    tuned = {c.name for c in cards if c.source.get("kind") == "dwr-lce"}
    # An equal-cost card keeps the shortcuts of the tuned card whose layout it takes.
    equal_cost = {c.name for c in cards if c.source.get("kind") == "equal-cost" and c.source["layout_from"] in tuned}
    # The authors' CIFAR ResNet-20s zero-pad their shortcuts (option A of the ResNet paper).
    authors = {c.name for c in cards if "ResNet-20" in c.source.get("file", "")}
    assert authors == {"ResNet20DWRAuthors", "ReActResNet20", "ReActResNet20DWR"}
    assert padded <= tuned | authors | equal_cost
    # VGG-Small has no shortcuts; ReActNet-A's tuned card keeps its conv shortcuts (the search chose them).
    assert tuned - padded == {"ReActNetADWRLCE", "VGGSmallDWRLCE"}


@pytest.mark.parametrize("block", ["bireal", "reactnet", "basic"])
def test_pad_replaces_every_projection_and_adds_no_weights(block):
    conv = build(TINY.replace(block=block), num_classes=10)
    pad = build(TINY.replace(block=block, shortcut="pad"), num_classes=10)
    assert any("_proj" in layer.name for layer in conv.layers)
    assert not any("_proj" in layer.name for layer in pad.layers)
    assert any(type(layer).__name__ == "ZeroPadChannels" for layer in pad.layers)
    projections = sum(w.shape.num_elements() for w in conv.weights if "_proj" in w.name)  # conv and BN
    assert projections > 0 and pad.count_params() == conv.count_params() - projections


def test_a_unit_that_narrows_keeps_its_projection_under_pad():
    model = build(TINY.replace(widths=(16, 8), shortcut="pad"), num_classes=10)
    assert [layer.name for layer in model.layers if "_proj" in layer.name or "_pad" in layer.name] == [
        "stage2_block1_unit1_shortcut_proj", "stage2_block1_unit1_shortcut_proj_bn"]


def test_the_padded_channels_are_zero_and_the_others_the_pooled_input():
    from dwr_larq.models.layers import ZeroPadChannels

    x = np.random.default_rng(0).normal(size=(1, 2, 2, 3)).astype("float32")
    y = ZeroPadChannels(5)(x).numpy()
    assert np.array_equal(y[..., :3], x) and not y[..., 3:].any()


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(shortcut="zero"), "'shortcut' must be one of \\['conv', 'pad'\\]"),
        (dict(block="vgg", shortcut="pad"), "'vgg' blocks have no conv shortcut"),
        (dict(block="reactnet_a", shortcut="pad"), "'reactnet_a' blocks have no conv shortcut"),
    ],
)
def test_a_shortcut_that_cannot_work_is_refused_naming_it(changes, message):
    with pytest.raises(ValueError, match=message):
        TINY.replace(**changes)


def test_the_option_round_trips_through_a_card_dict():
    spec = TINY.replace(shortcut="pad")
    assert BackboneSpec.from_dict(spec.to_dict()) == spec
    data = TINY.to_dict()
    del data["shortcut"]  # cards written before the option
    assert BackboneSpec.from_dict(data).shortcut == "conv"
