"""The cards that follow the DWR authors' code (pingxue-hfut/DWR): their exact op counts,
counted here layer by layer from the authors' model files rather than from our spec
arithmetic, and the layers of the heads those files end with."""

import pytest
import tensorflow as tf

from dwr_larq import zoo
from dwr_larq.models import costs
from dwr_larq.models.spec import BackboneSpec


def conv_macs(convs) -> int:
    """MACs of (in channels, out channels, output side, kernel) convs."""
    return sum(k * k * cin * cout * side * side for cin, cout, side, k in convs)


def authors_resnet20(widths, depth, alg2, stem=16):
    """Binary convs of the authors' CIFAR ResNet-20 (``ResNet._make_layer``: a block's
    conv1 reads the previous width at the block's stride, conv2 keeps its width),
    then ``alg2``, at 32x32."""
    convs, channels, side = [], stem, 32
    for stage, width in enumerate(widths):
        for index in range(depth):
            if stage > 0 and index == 0:
                side //= 2
            convs += [(channels, width, side, 3), (width, width, side, 3)]
            channels = width
    if alg2:
        convs.append((channels, alg2, side, 3))
    return convs


# name -> (binary convs, real-valued MACs: stem conv, 1x1 shortcuts, dense layers)
AUTHORS = {
    # CIFAR-10/ResNet-20/resnet.py: conv1 3->16, layers [16, 78, 134], alg2 134->64, bn2, linear 64->10.
    "ResNet20DWRAuthors": (authors_resnet20([16, 78, 134], 1, 64), 9 * 3 * 16 * 32 * 32 + 64 * 10),
    # CIFAR-10/ResNet-20+ReActNet/resnet.py: layers [30, 86, 154], alg2 154->64.
    "ReActResNet20DWR": (authors_resnet20([30, 86, 154], 1, 64), 9 * 3 * 16 * 32 * 32 + 64 * 10),
    "ReActResNet20": (authors_resnet20([16, 32, 64], 3, None), 9 * 3 * 16 * 32 * 32 + 64 * 10),
    # CIFAR-10/VGG-Small&VGG-11/vgg.py: conv0 3->128 real-valued, convs 1-5 with pools after 1, 3, 5,
    # alg2 512->512 on the 4x4 map, fc 512*4*4 -> 10.
    "VGGSmallDWRAuthors": (
        [(128, 106, 32, 3), (106, 252, 16, 3), (252, 256, 16, 3), (256, 512, 8, 3), (512, 512, 8, 3),
         (512, 512, 4, 3)],
        9 * 3 * 128 * 32 * 32 + 512 * 4 * 4 * 10,
    ),
    # CIFAR-10/VGG-Small&VGG-11/vgg11.py, cfg 'A': conv0 3->64, then M 144 M 390 M 842 M 418 512 M,
    # fc 512->4096->4096->10.
    "VGG11DWR": (
        [(64, 144, 16, 3), (144, 390, 8, 3), (390, 842, 4, 3), (842, 418, 2, 3), (418, 512, 2, 3)],
        9 * 3 * 64 * 32 * 32 + 512 * 4096 + 4096 * 4096 + 4096 * 10,
    ),
}


@pytest.mark.parametrize("name", sorted(AUTHORS))
def test_binary_and_real_macs_are_the_authors_models(name):
    binary_convs, float_macs = AUTHORS[name]
    figures = costs.measure_spec(zoo.get_card(name).spec, input_size=32)
    assert figures.binary_convs == len(binary_convs)
    assert figures.binary_macs == conv_macs(binary_convs)
    assert figures.float_macs == float_macs
    assert figures.ops == pytest.approx(figures.binary_macs / 64 + figures.float_macs)


def test_every_card_that_follows_the_authors_names_their_file():
    followed = [card for card in map(zoo.get_card, zoo.list_models()) if "file" in card.source]
    assert {"ResNet20DWRAuthors", "ReActResNet20DWR", "VGGSmallDWRAuthors", "VGG11DWR", "ResNet18DWR",
            "ReActResNet18DWR", "ResNet18CIFARDWR"} <= {card.name for card in followed}
    assert all(card.source["file"].startswith("pingxue-hfut/DWR: ") for card in followed)


def layer_sequence(model, names):
    """The classes of ``names`` in ``model``'s layer order (names missing raise)."""
    index = {layer.name: i for i, layer in enumerate(model.layers)}
    ordered = sorted(names, key=index.__getitem__)
    assert ordered == list(names), f"layers out of order: {ordered}"
    return [type(model.get_layer(name)).__name__ for name in names]


def test_resnet20_head_is_alg2_conv_pool_batch_norm_then_the_classifier():
    model = zoo.ResNet20DWRAuthors()
    names = ["head_conv", "head_bn", "head_tanh", "avg_pool", "head_norm", "logits"]
    assert layer_sequence(model, names) == ["QuantConv2D", "BatchNormalization", "HardTanh",
                                            "GlobalAveragePooling2D", "BatchNormalization", "Dense"]
    assert model.get_layer("head_conv").input.shape[-1] == 134
    assert model.get_layer("logits").kernel.shape == (64, 10)
    # The first binary conv reads the stem's 16 channels itself: no alignment layer.
    assert "stem_align" not in [layer.name for layer in zoo.ReActResNet20DWR().layers]


def test_vgg_small_classifies_the_flattened_4x4_map():
    model = zoo.VGGSmallDWRAuthors()
    assert model.get_layer("stem_conv").filters == 128 and model.get_layer("head_conv").filters == 512
    assert model.get_layer("logits").kernel.shape == (512 * 4 * 4, 10)


def test_vgg11_has_two_hidden_dense_layers_with_batch_norm():
    model = zoo.VGG11DWR()
    assert model.get_layer("stem_pool").pool_size == (2, 2)
    assert [model.get_layer(f"head_dense{i}").kernel.shape for i in (1, 2)] == [(512, 4096), (4096, 4096)]
    assert layer_sequence(model, ["head_dense1", "head_dense1_bn", "head_dense1_tanh", "head_dense2", "logits"])[:3] == [
        "Dense", "BatchNormalization", "HardTanh"]


def test_without_top_the_backbone_ends_at_the_last_stage():
    model = zoo.ResNet20DWRAuthors(include_top=False, input_shape=(32, 32, 3))
    assert model.output_shape == (None, 8, 8, 134)
    assert not [layer.name for layer in model.layers if layer.name.startswith("head_")]


def test_imagenet_dwr_resnets_normalise_the_pooled_features():
    model = zoo.ResNet18DWR(input_shape=(64, 64, 3))
    assert layer_sequence(model, ["avg_pool", "head_norm", "logits"]) == [
        "GlobalAveragePooling2D", "BatchNormalization", "Dense"]


@pytest.mark.parametrize(
    "change, message",
    [
        ({"stem": {"width": 16, "widening": "first_conv"}}, "needs shortcut 'pad'"),
        ({"stem": {"widening": "sideways"}}, "stem.widening"),
        ({"head": {"pool": "max"}}, "head.pool"),
        ({"head": {"conv_width": 0}}, "head.conv_width"),
        ({"head": {"hidden": [4096, 0]}}, r"head.hidden\[1\]"),
        ({"head": {"norm": "yes"}}, "head.norm"),
        ({"stem": {"pool_size": 0}}, "stem.pool_size"),
        ({"precision": "ternary"}, "precision"),
    ],
)
def test_bad_head_and_stem_fields_are_named(change, message):
    data = zoo.get_card("ResNet20").spec.to_dict() | change
    with pytest.raises(ValueError, match=message):
        BackboneSpec.from_dict(data)


def test_fields_at_their_defaults_are_not_written():
    """Cards and run configs written before these fields existed stay as they were."""
    data = zoo.get_card("ResNet20").spec.to_dict()
    assert "precision" not in data and set(data["head"]) == {"num_classes", "dropout"}
    assert set(data["stem"]) == {"width", "kernel_size", "strides", "max_pool"}
    authors = zoo.get_card("VGG11DWR").spec.to_dict()
    assert authors["head"]["hidden"] == [4096, 4096] and authors["stem"]["pool_size"] == 2
    assert BackboneSpec.from_dict(authors) == zoo.get_card("VGG11DWR").spec


def test_full_precision_twin_has_the_same_layout_and_no_binary_conv():
    spec = zoo.get_card("ResNet20DWRAuthors").spec
    binary, real = (costs.measure_spec(s, input_size=32) for s in (spec, spec.replace(precision="float")))
    assert real.binary_convs == 0 and real.binary_macs == 0
    assert real.float_macs == binary.float_macs + binary.binary_macs
    from dwr_larq.models.builder import build

    twin = build(spec.replace(precision="float"), input_shape=(32, 32, 3))
    names = [layer.name for layer in twin.layers if isinstance(layer, tf.keras.layers.Conv2D)]
    assert names[:3] == ["stem_conv", "stage1_block1_unit1_conv", "stage1_block1_unit2_conv"]
    assert isinstance(twin.get_layer("stage1_block1_unit1_relu"), tf.keras.layers.ReLU)
