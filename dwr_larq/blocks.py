"""Binary building blocks, parametrized by a small table rather than copied.

Every binary conv is a ``larq.layers.QuantConv2D`` with a sign input quantizer,
``magnitude_aware_sign`` weights (sign times the per-output-channel mean |W|),
``pad_values=1.0`` and no bias: the pattern LCE converts to ``LceBconv2d`` with the
scale and the following BN fused into its output transform.

Layers are named ``stage{s}_block{b}_{part}`` (1-based) so that tools such as the
DWR width search can find a stage's layers by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import larq as lq
import tensorflow as tf

from dwr_larq.layers import RPReLU, RSign

BN_KWARGS = dict(momentum=0.9, epsilon=1e-5)
BINARY_CONV_KWARGS = dict(
    kernel_size=3,
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


def binary_conv_bn(x, width: int, stride: int, input_quantizer, name: str):
    """Binary 3x3 conv then BN, the unit every block is made of."""
    x = lq.layers.QuantConv2D(
        width, strides=stride, input_quantizer=input_quantizer, name=f"{name}_conv", **BINARY_CONV_KWARGS
    )(x)
    return tf.keras.layers.BatchNormalization(name=f"{name}_bn", **BN_KWARGS)(x)


def shortcut(x, width: int, stride: int, name: str):
    """Identity, or the real-valued downsampling shortcut: 2x2 avg pool, 1x1 conv, BN."""
    if stride == 1 and x.shape[-1] == width:
        return x
    if stride > 1:
        x = tf.keras.layers.AveragePooling2D(stride, strides=stride, padding="same", name=f"{name}_pool")(x)
    x = tf.keras.layers.Conv2D(width, 1, use_bias=False, name=f"{name}_proj")(x)
    return tf.keras.layers.BatchNormalization(name=f"{name}_proj_bn", **BN_KWARGS)(x)


def bireal_unit(x, width: int, stride: int, name: str):
    """Bi-Real: BN(bconv(sign(x))) + shortcut(x)."""
    y = binary_conv_bn(x, width, stride, "approx_sign", name)
    return tf.keras.layers.add([y, shortcut(x, width, stride, f"{name}_shortcut")], name=f"{name}_add")


def reactnet_unit(x, width: int, stride: int, name: str):
    """ReActNet: RPReLU(BN(bconv(RSign(x))) + shortcut(x))."""
    y = binary_conv_bn(x, width, stride, RSign(name=f"{name}_rsign"), name)
    y = tf.keras.layers.add([y, shortcut(x, width, stride, f"{name}_shortcut")], name=f"{name}_add")
    return RPReLU(name=f"{name}_rprelu")(y)


def vgg_unit(x, width: int, stride: int, name: str):
    """Binary VGG conv: bconv, then a max pool when ``stride > 1``, then BN."""
    x = lq.layers.QuantConv2D(
        width, strides=1, input_quantizer="approx_sign", name=f"{name}_conv", **BINARY_CONV_KWARGS
    )(x)
    if stride > 1:
        x = tf.keras.layers.MaxPool2D(stride, strides=stride, padding="same", name=f"{name}_pool")(x)
    return tf.keras.layers.BatchNormalization(name=f"{name}_bn", **BN_KWARGS)(x)


@dataclass(frozen=True)
class BlockKind:
    """How a block is made: ``units_per_block`` units, the first carrying the stride."""

    unit: Callable
    units_per_block: int
    residual: bool


BLOCKS = {
    "bireal": BlockKind(bireal_unit, units_per_block=1, residual=True),
    "reactnet": BlockKind(reactnet_unit, units_per_block=1, residual=True),
    # The two-conv CIFAR basic block, with a shortcut around each binary conv as in
    # IR-Net's and Bi-Real's CIFAR ResNets (binary ResNets train poorly otherwise).
    "basic": BlockKind(bireal_unit, units_per_block=2, residual=True),
    "vgg": BlockKind(vgg_unit, units_per_block=1, residual=False),
}


def block(x, kind: str, width: int, stride: int, name: str):
    """One block of ``kind``: its units in sequence, the first one downsampling."""
    spec = BLOCKS[kind]
    for unit_index in range(spec.units_per_block):
        unit_name = name if spec.units_per_block == 1 else f"{name}_unit{unit_index + 1}"
        x = spec.unit(x, width, stride if unit_index == 0 else 1, unit_name)
    return x
