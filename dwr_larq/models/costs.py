"""Cost figures of a binary network, as BNN papers count them.

Built on Larq's ``ModelProfile`` (weights per bit width, MACs per precision), with
two corrections that matter for our layers: MACs are counted from conv/dense
*kernels* only (Larq's profile also counts RSign's per-channel shift, which sits in
the conv as its input quantizer, as 32-bit MACs). Larq does not report activations;
we count them two ways: ``activations``, the elements that enter binary convs, and
``activations_out``, the elements binary convs produce (the paper's depth x width
count; it differs from the first by the stride-2 convs, which read 4x the pixels
they write).

Not counted: the depthwise 1x1 conv inside ``ChannelAlign`` (C x H x W MACs, under
0.1% of any zoo model) because Larq cannot profile layers nested in a custom layer.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from dwr_larq.legacy_keras import require_legacy_keras

require_legacy_keras()  # before larq, which fails obscurely under Keras 3

import larq as lq  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from dwr_larq.models.blocks import is_binary_conv  # noqa: E402

# Binary MACs per float-equivalent operation: 64 binary MACs fit one 64-bit XNOR-popcount.
BINARY_MACS_PER_OP = 64
FLOAT_BYTES = 4


@dataclass(frozen=True)
class ModelMetrics:
    """Per-image costs at the model's input size."""

    input_shape: tuple
    binary_convs: int
    binary_macs: int
    float_macs: int
    ops: float
    params_binary: int
    params_float: int
    size_bytes: int
    activations: int
    activations_out: int
    peak_activation_bytes: int

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["input_shape"] = list(self.input_shape)
        return data


def _static_input_shape(model: tf.keras.Model) -> tuple:
    shape = tuple(model.input_shape[1:])
    if any(dim is None for dim in shape):
        raise ValueError(f"metrics need a model with a fixed input size, got input shape {shape}; build it with input_shape=(H, W, C)")
    return shape


def _kernel_macs(profile) -> tuple[int, int]:
    """(binary, float) MACs of one Larq layer profile, from its kernels only."""
    layer = profile._layer
    if not isinstance(layer, lq.models.mac_containing_layers) or not profile.output_pixels:
        return 0, 0
    binary = floating = 0
    for weight in profile.weight_profiles:
        if "kernel" not in weight._weight.name:
            continue
        macs = weight.count * profile.output_pixels
        if max(profile.input_precision or 32, weight.bitwidth) == 1:
            binary += macs
        else:
            floating += macs
    return binary, floating


def _producer_names(layer) -> list:
    return [t._keras_history.layer.name for t in tf.nest.flatten(layer.input)]


def peak_activation_bytes(model: tf.keras.Model) -> int:
    """Peak float32 bytes of live feature maps when the layers run in graph order.

    A layer's output lives from its layer until its last consumer has run; model
    outputs live to the end. A plain-Keras estimate: LCE's arena planner packs binary
    tensors and reuses buffers differently.
    """
    layers = model.layers
    index = {layer.name: i for i, layer in enumerate(layers)}
    last_use = {layer.name: i for i, layer in enumerate(layers)}
    for i, layer in enumerate(layers):
        if isinstance(layer, tf.keras.layers.InputLayer):
            continue
        for producer in _producer_names(layer):
            last_use[producer] = max(last_use[producer], i)
    for output in model.outputs:
        last_use[output._keras_history.layer.name] = len(layers)

    def size(layer) -> int:
        return sum(int(np.prod(t.shape[1:])) for t in tf.nest.flatten(layer.output)) * FLOAT_BYTES

    live, peak = {}, 0
    for i, layer in enumerate(layers):
        live[layer.name] = size(layer)
        peak = max(peak, sum(live.values()))
        for name in [n for n in live if last_use[n] == i and index[n] <= i]:
            del live[name]
    return peak


def binary_conv_layers(model: tf.keras.Model) -> list:
    return [layer for layer in model.layers if is_binary_conv(layer)]


def measure(model: tf.keras.Model) -> ModelMetrics:
    """Measure a Keras model with a fixed input size."""
    input_shape = _static_input_shape(model)
    profile = lq.models.ModelProfile(model)
    binary_macs = float_macs = 0
    for layer_profile in profile.layer_profiles:
        binary, floating = _kernel_macs(layer_profile)
        binary_macs += binary
        float_macs += floating
    params_binary = profile.weight_count(bitwidth=1)
    convs = binary_conv_layers(model)
    return ModelMetrics(
        input_shape=input_shape,
        binary_convs=len(convs),
        binary_macs=binary_macs,
        float_macs=float_macs,
        ops=binary_macs / BINARY_MACS_PER_OP + float_macs,
        params_binary=params_binary,
        params_float=profile.weight_count() - params_binary,
        size_bytes=math.ceil(profile.memory / 8),
        activations=sum(int(np.prod(layer.input_shape[1:])) for layer in convs),
        activations_out=sum(int(np.prod(layer.output_shape[1:])) for layer in convs),
        peak_activation_bytes=peak_activation_bytes(model),
    )


def measure_spec(spec, input_size: int | None = None, channels: int = 3) -> ModelMetrics:
    """Build ``spec`` at ``input_size`` (default: the spec's) and measure it."""
    from dwr_larq.models.builder import measure_at_size

    return measure_at_size(spec, measure, input_size, channels)
