"""Keras layers of binary networks that Larq does not ship.

All are registered under the ``dwr_larq`` package, so ``tf.keras.models.load_model``
restores them without ``custom_objects`` once ``dwr_larq`` is imported.
"""

import math

from dwr_larq.legacy_keras import require_legacy_keras

require_legacy_keras()  # before larq, which fails obscurely under Keras 3

import larq as lq  # noqa: E402
import tensorflow as tf  # noqa: E402

_register = tf.keras.utils.register_keras_serializable(package="dwr_larq")


def _build_sublayer(sublayer, input_shape) -> None:
    """Build ``sublayer`` under its own name scope, so its weights are named
    ``<outer>/<sublayer>/<weight>``: RPReLU's two shifts would otherwise both be
    ``<outer>/bias`` and clash in HDF5 files. Weight order is unchanged."""
    with tf.name_scope(sublayer.name):
        sublayer.build(input_shape)


@_register
class Shift(tf.keras.layers.Layer):
    """Learnable per-channel shift (ReActNet's ``LearnableBias``): ``x + b``."""

    def build(self, input_shape):
        self.bias = self.add_weight(
            name="bias", shape=(int(input_shape[-1]),), initializer="zeros"
        )
        super().build(input_shape)

    def call(self, inputs):
        return inputs + self.bias


@_register
class RSign(lq.quantizers.Quantizer):
    """ReActNet's RSign: a learnable per-channel shift, then sign.

    It is a Larq quantizer (and so also a Keras layer), so it can sit inside a
    ``QuantConv2D`` as its ``input_quantizer``: Larq's profile then counts the
    convolution's MACs as binary and LCE fuses the sign into ``LceQuantize``.
    The gradient of the sign is ApproxSign's, as in ReActNet.
    """

    precision = 1

    def build(self, input_shape):
        self.shift = self.add_weight(
            name="shift", shape=(int(input_shape[-1]),), initializer="zeros"
        )
        super().build(input_shape)

    def call(self, inputs):
        return lq.quantizers.approx_sign(inputs + self.shift)


# QuantConv2D stores its quantizer's config under the bare class name, and the legacy
# loaders (HDF5, SavedModel) look it up by that name: register it there too, as Larq
# registers its own quantizers.
tf.keras.utils.get_custom_objects().setdefault("RSign", RSign)


@_register
class RPReLU(tf.keras.layers.Layer):
    """ReActNet's RPReLU: shift, per-channel PReLU, shift."""

    def __init__(self, alpha_initializer=0.25, **kwargs):
        super().__init__(**kwargs)
        self.alpha_initializer = alpha_initializer

    def build(self, input_shape):
        self.shift_in = Shift(name="shift_in")
        self.prelu = tf.keras.layers.PReLU(
            alpha_initializer=tf.keras.initializers.Constant(self.alpha_initializer),
            shared_axes=[1, 2],
            name="prelu",
        )
        self.shift_out = Shift(name="shift_out")
        for layer in (self.shift_in, self.prelu, self.shift_out):
            _build_sublayer(layer, input_shape)
        super().build(input_shape)

    def call(self, inputs):
        return self.shift_out(self.prelu(self.shift_in(inputs)))

    def get_config(self):
        return {**super().get_config(), "alpha_initializer": self.alpha_initializer}


class _ToWidth(tf.keras.layers.Layer):
    """Base of layers that map any channel count to ``width`` channels."""

    def __init__(self, width, **kwargs):
        super().__init__(**kwargs)
        if int(width) < 1:
            raise ValueError(f"{type(self).__name__} width must be >= 1, got {width}")
        self.width = int(width)

    def compute_output_shape(self, input_shape):
        return tf.TensorShape(input_shape)[:-1].concatenate([self.width])

    def get_config(self):
        return {**super().get_config(), "width": self.width}


@_register
class ChannelAlign(_ToWidth):
    """Widens (or narrows) a feature map to ``width`` channels without a full conv.

    DWR's alignment layer between a stem and a first stage of another width: a
    depthwise 1x1 conv + BN of the input, concatenated with the input, cut to
    ``width`` channels, then PReLU. Costs C params instead of C * width.
    """

    def build(self, input_shape):
        channels = int(input_shape[-1])
        depth_multiplier = max(1, math.ceil(self.width / channels) - 1)
        # Channels-last whatever keras.json says: the layer concatenates on the last axis.
        self.depthwise = tf.keras.layers.DepthwiseConv2D(
            1, depth_multiplier=depth_multiplier, use_bias=False, data_format="channels_last", name="depthwise"
        )
        self.bn = tf.keras.layers.BatchNormalization(
            momentum=0.9, epsilon=1e-5, name="bn"
        )
        # 0.25 is PyTorch's PReLU start, which the DWR authors' alignment layer uses.
        self.prelu = tf.keras.layers.PReLU(
            alpha_initializer=tf.keras.initializers.Constant(0.25), shared_axes=[1, 2], name="prelu"
        )
        _build_sublayer(self.depthwise, input_shape)
        _build_sublayer(self.bn, tf.TensorShape(input_shape)[:-1].concatenate([channels * depth_multiplier]))
        _build_sublayer(self.prelu, self.compute_output_shape(input_shape))
        super().build(input_shape)

    def call(self, inputs, training=None):
        # concat([x, extra])[..., :width], with the cut on the branch alone: the same
        # values, without a slice of the whole widened tensor in the converted graph.
        channels = inputs.shape[-1]
        if self.width <= channels:
            return self.prelu(inputs[..., : self.width])
        extra = self.bn(self.depthwise(inputs), training=training)
        if extra.shape[-1] > self.width - channels:
            extra = extra[..., : self.width - channels]
        return self.prelu(tf.concat([inputs, extra], axis=-1))


@_register
class RepeatChannels(_ToWidth):
    """Repeats the input's channels and keeps the first ``width``: a parameter-free
    shortcut to a wider feature map (ReActNet-A concatenates two copies to double)."""

    def call(self, inputs):
        # Whole copies, then only the part of one more that is needed: no slice of the
        # full concatenation (LCE keeps even an identity STRIDED_SLICE).
        copies, rest = divmod(self.width, inputs.shape[-1])
        parts = [inputs] * copies + ([inputs[..., :rest]] if rest else [])
        return parts[0] if len(parts) == 1 else tf.concat(parts, axis=-1)


@_register
class ZeroPadChannels(_ToWidth):
    """Appends zero channels up to ``width``: the parameter-free shortcut of the CIFAR
    ResNet (option A), one PAD op in LCE's graph instead of a float 1x1 conv."""

    def call(self, inputs):
        extra = self.width - inputs.shape[-1]
        if extra < 0:
            raise ValueError(f"ZeroPadChannels cannot narrow {inputs.shape[-1]} channels to {self.width}")
        return tf.pad(inputs, [[0, 0], [0, 0], [0, 0], [0, extra]]) if extra else inputs


@_register
class HardTanh(tf.keras.layers.Layer):
    """``clip(x, -1, 1)``: the activation of the DWR authors' head conv and VGG-11's hidden
    dense layers (PyTorch's ``Hardtanh``); TFLite runs it as one ``RELU_N1_TO_1``."""

    def call(self, inputs):
        return tf.clip_by_value(inputs, -1.0, 1.0)
