import math

import pytest
import tensorflow as tf

from dwr_larq.models import costs, kinds
from dwr_larq import zoo


def expected_binary_costs(spec, side):
    """Binary MACs, elements into and out of binary convs, from the spec's arithmetic alone."""
    kind = kinds.KINDS[spec.block]
    size = math.ceil(side / spec.stem.strides)
    if spec.stem.max_pool:
        size = math.ceil(size / 2)
    aligned = kind.aligns_stem and spec.stem.widening == "align"
    channels = spec.widths[0] if aligned else spec.stem.width
    macs = into = out = 0
    for depth, width, stride in zip(spec.depths, spec.widths, spec.strides):
        for unit in range(depth * kind.units_per_block):
            unit_stride = stride if unit == 0 else 1
            conv_stride = 1 if spec.block == "vgg" else unit_stride
            out_size = math.ceil(size / conv_stride)
            if spec.block == "reactnet_a":  # 3x3 conv keeping the channels, then a 1x1 conv
                macs += 9 * channels * channels * out_size**2 + channels * width * out_size**2
                into += channels * size**2 + channels * out_size**2
                out += channels * out_size**2 + width * out_size**2
            else:
                macs += 9 * channels * width * out_size**2
                into += channels * size**2
                out += width * out_size**2
            channels, size = width, math.ceil(size / unit_stride)
    if spec.head.conv_width is not None:  # the head's binary 3x3 conv on the last feature map
        macs += 9 * channels * spec.head.conv_width * size**2
        into += channels * size**2
        out += spec.head.conv_width * size**2
    return macs, into, out


@pytest.mark.parametrize("name", zoo.list_models())
def test_binary_costs_match_the_spec_arithmetic(name):
    spec = zoo.get_card(name).spec
    side = spec.input_size if spec.input_size <= 32 else 64
    figures = costs.measure_spec(spec, input_size=side)
    assert (figures.binary_macs, figures.activations, figures.activations_out) == expected_binary_costs(spec, side)
    convs_per_unit = 2 if spec.block == "reactnet_a" else 1
    head_convs = spec.head.conv_width is not None
    assert figures.binary_convs == sum(spec.depths) * kinds.KINDS[spec.block].units_per_block * convs_per_unit + head_convs
    assert figures.ops == pytest.approx(figures.binary_macs / 64 + figures.float_macs)


def test_bireal_resnet18_matches_the_published_binary_operations():
    # Bi-Real Net (ECCV 2018) reports 1.68e9 binary operations for ResNet-18 at 224x224.
    figures = costs.measure_spec(zoo.get_card("BiRealResNet18").spec)
    assert figures.binary_macs == pytest.approx(1.68e9, rel=0.01)
    assert figures.params_binary == 10_985_472  # 3x3 kernels of the 16 binary convs


@pytest.mark.parametrize(
    "name, binary_ops, ops",
    [
        ("BiRealResNet34", 3.53e9, None),  # Bi-Real Net, ECCV 2018
        ("ReActNetA", 4.82e9, 0.87e8),  # ReActNet, ECCV 2020, Table: BOPs and OPs
    ],
)
def test_published_operation_counts(name, binary_ops, ops):
    figures = costs.measure_spec(zoo.get_card(name).spec)
    assert figures.binary_macs == pytest.approx(binary_ops, rel=0.01)
    if ops:
        assert figures.ops == pytest.approx(ops, rel=0.01)


def test_dwr_resnet18_keeps_binary_macs_and_cuts_activations():
    original = costs.measure_spec(zoo.get_card("BiRealResNet18").spec)
    reshaped = costs.measure_spec(zoo.get_card("ResNet18DWR").spec)
    assert reshaped.binary_macs == pytest.approx(original.binary_macs, rel=0.10)
    # Feature maps the binary convs produce: the paper's depth x width count.
    assert reshaped.activations_out / original.activations_out <= 0.80
    # Elements entering binary convs fall less (0.807x): stride-2 convs read 4x what they write.
    assert reshaped.activations < original.activations


def test_size_packs_binary_weights_into_bits():
    figures = costs.measure_spec(zoo.get_card("ResNet20").spec)
    assert figures.size_bytes == math.ceil((figures.params_binary + 32 * figures.params_float) / 8)
    assert figures.params_binary == 9 * (16 * 16 * 6 + 16 * 32 + 32 * 32 * 5 + 32 * 64 + 64 * 64 * 5)


def test_peak_activation_memory_follows_tensor_lifetimes():
    inputs = tf.keras.Input((4, 4, 2))
    a = tf.keras.layers.Conv2D(2, 1)(inputs)
    b = tf.keras.layers.Conv2D(2, 1)(a)
    c = tf.keras.layers.Add()([inputs, b])
    model = tf.keras.Model(inputs, c)
    # When b is computed, the input (needed by the add), a and b are live: 3 x 32 floats.
    assert costs.peak_activation_bytes(model) == 3 * 32 * 4


def test_metrics_need_a_fixed_input_size():
    model = zoo.ResNet20(input_shape=(None, None, 3))
    with pytest.raises(ValueError, match="fixed input size"):
        costs.measure(model)
