"""Binary building blocks, parametrized by a small table rather than copied.

Every binary conv is a ``larq.layers.QuantConv2D`` with a sign input quantizer,
``magnitude_aware_sign`` weights (sign times the per-output-channel mean |W|),
``pad_values=1.0`` and no bias: the pattern LCE converts to ``LceBconv2d`` with the
scale and the following BN fused into its output transform.

Layers are named ``stage{s}_block{b}_{part}`` (1-based) so that tools such as the
DWR width search can find a stage's layers by name.
"""

from __future__ import annotations

from dwr_larq.legacy_keras import require_legacy_keras

require_legacy_keras()  # before larq, which fails obscurely under Keras 3

import larq as lq  # noqa: E402
import tensorflow as tf  # noqa: E402

from dwr_larq.models.kinds import KINDS  # noqa: E402
from dwr_larq.models.layers import RepeatChannels, RPReLU, RSign, ZeroPadChannels  # noqa: E402

BN_KWARGS = dict(momentum=0.9, epsilon=1e-5)
BINARY_CONV_KWARGS = dict(
    padding="same",
    pad_values=1.0,
    use_bias=False,
    kernel_quantizer="magnitude_aware_sign",
    kernel_constraint="weight_clip",
    kernel_initializer="glorot_normal",
)


def is_binary_conv(layer: tf.keras.layers.Layer) -> bool:
    """True for a conv whose inputs and weights are both 1-bit."""
    return (
        isinstance(layer, lq.layers.QuantConv2D)
        and getattr(layer.input_quantizer, "precision", 32) == 1
        and getattr(layer.kernel_quantizer, "precision", 32) == 1
    )


def conv(x, width: int, stride: int, input_quantizer, name: str, kernel_size: int = 3, precision: str = "binary"):
    """The conv every unit is made of: binary (sign of the input, ``input_quantizer``;
    1-bit weights), or for a ``"float"`` spec its full-precision twin, a ReLU then a
    real-valued conv, with the same name (see ``spec.PRECISIONS``).

    ``input_quantizer="rsign"`` makes ReActNet's learnable sign, named after the conv;
    built here so a float twin does not create one it never connects."""
    if precision == "float":
        x = tf.keras.layers.ReLU(name=f"{name}_relu")(x)
        return tf.keras.layers.Conv2D(width, kernel_size, strides=stride, padding="same", use_bias=False,
                                      kernel_initializer="he_normal", name=f"{name}_conv")(x)
    if input_quantizer == "rsign":
        input_quantizer = RSign(name=f"{name}_rsign")
    return lq.layers.QuantConv2D(
        width,
        kernel_size,
        strides=stride,
        input_quantizer=input_quantizer,
        name=f"{name}_conv",
        **BINARY_CONV_KWARGS,
    )(x)


def binary_conv_bn(x, width: int, stride: int, input_quantizer, name: str, kernel_size: int = 3,
                   precision: str = "binary"):
    """Binary conv (3x3 unless said) then BN, the unit every block is made of."""
    x = conv(x, width, stride, input_quantizer, name, kernel_size, precision)
    return tf.keras.layers.BatchNormalization(name=f"{name}_bn", **BN_KWARGS)(x)


def shortcut(x, width: int, stride: int, name: str, kind: str = "conv"):
    """Identity, or the downsampling shortcut: 2x2 avg pool, then a 1x1 conv and BN
    (``kind="conv"``) or zero-padded channels (``"pad"``, where the unit does not
    narrow; see ``spec.SHORTCUTS``)."""
    if stride == 1 and x.shape[-1] == width:
        return x
    if stride > 1:
        x = tf.keras.layers.AveragePooling2D(stride, strides=stride, padding="same", name=f"{name}_pool")(x)
    if kind == "pad" and width >= x.shape[-1]:
        return ZeroPadChannels(width, name=f"{name}_pad")(x)
    x = tf.keras.layers.Conv2D(width, 1, use_bias=False, name=f"{name}_proj")(x)
    return tf.keras.layers.BatchNormalization(name=f"{name}_proj_bn", **BN_KWARGS)(x)


def bireal_unit(x, width: int, stride: int, name: str, shortcut_kind: str = "conv", precision: str = "binary"):
    """Bi-Real: BN(bconv(sign(x))) + shortcut(x)."""
    y = binary_conv_bn(x, width, stride, "approx_sign", name, precision=precision)
    return tf.keras.layers.add([y, shortcut(x, width, stride, f"{name}_shortcut", shortcut_kind)], name=f"{name}_add")


def reactnet_unit(x, width: int, stride: int, name: str, shortcut_kind: str = "conv", precision: str = "binary"):
    """ReActNet: RPReLU(BN(bconv(RSign(x))) + shortcut(x))."""
    y = binary_conv_bn(x, width, stride, "rsign", name, precision=precision)
    y = tf.keras.layers.add([y, shortcut(x, width, stride, f"{name}_shortcut", shortcut_kind)], name=f"{name}_add")
    return RPReLU(name=f"{name}_rprelu")(y)


def vgg_unit(x, width: int, stride: int, name: str, shortcut_kind: str = "conv", precision: str = "binary"):
    """Binary VGG conv: bconv, then a max pool when ``stride > 1``, then BN."""
    x = conv(x, width, 1, "approx_sign", name, precision=precision)
    if stride > 1:
        x = tf.keras.layers.MaxPool2D(stride, strides=stride, padding="same", name=f"{name}_pool")(x)
    return tf.keras.layers.BatchNormalization(name=f"{name}_bn", **BN_KWARGS)(x)


def reactnet_a_unit(x, width: int, stride: int, name: str, shortcut_kind: str = "conv", precision: str = "binary"):
    """ReActNet-A (MobileNetV1 layout): a binary 3x3 conv that keeps the channels, then
    a binary 1x1 conv to ``width``, each with a shortcut and RPReLU.

    The 3x3 shortcut downsamples by average pooling; the 1x1 shortcut repeats the
    channels up to ``width`` (ReActNet's duplication when the width doubles).
    """
    channels = x.shape[-1]
    y = binary_conv_bn(x, channels, stride, "rsign", f"{name}_3x3", precision=precision)
    skip = x
    if stride > 1:
        skip = tf.keras.layers.AveragePooling2D(stride, strides=stride, padding="same", name=f"{name}_pool")(x)
    y = RPReLU(name=f"{name}_3x3_rprelu")(tf.keras.layers.add([y, skip], name=f"{name}_3x3_add"))
    z = binary_conv_bn(y, width, 1, "rsign", f"{name}_1x1", kernel_size=1, precision=precision)
    skip = y if width == channels else RepeatChannels(width, name=f"{name}_repeat")(y)
    return RPReLU(name=f"{name}_1x1_rprelu")(tf.keras.layers.add([z, skip], name=f"{name}_1x1_add"))


UNITS = {
    "bireal": bireal_unit,
    "reactnet": reactnet_unit,
    "basic": bireal_unit,  # two Bi-Real units per block (see ``kinds``)
    "react_basic": reactnet_unit,  # two ReActNet units per block
    "vgg": vgg_unit,
    "reactnet_a": reactnet_a_unit,
}


def block(x, kind: str, width: int, stride: int, name: str, shortcut_kind: str = "conv", precision: str = "binary"):
    """One block of ``kind``: its units in sequence, the first one downsampling."""
    units = KINDS[kind].units_per_block
    for unit_index in range(units):
        unit_name = name if units == 1 else f"{name}_unit{unit_index + 1}"
        x = UNITS[kind](x, width, stride if unit_index == 0 else 1, unit_name, shortcut_kind, precision)
    return x
