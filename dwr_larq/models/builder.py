"""``build(spec)``: a ``BackboneSpec`` to a ``tf.keras.Model`` made of Larq layers.

Models are channels-last whatever ``image_data_format`` keras.json sets: the
shapes, the channel concatenations and LCE's kernels all assume it.
"""

from __future__ import annotations

import contextlib
from typing import Callable, TypeVar

import tensorflow as tf

from dwr_larq.checks import positive_int
from dwr_larq.models.blocks import BN_KWARGS, binary_conv_bn, block
from dwr_larq.models.kinds import KINDS
from dwr_larq.models.layers import ChannelAlign, HardTanh
from dwr_larq.models.session import throwaway_graphs
from dwr_larq.models.spec import BackboneSpec

CHANNELS_LAST = "channels_last"
T = TypeVar("T")
POOLINGS = {
    "avg": tf.keras.layers.GlobalAveragePooling2D,
    "max": tf.keras.layers.GlobalMaxPooling2D,
}


@contextlib.contextmanager
def channels_last():
    """Keras' image data format set to channels-last for the ``with`` body, restored after:
    layers that take their ``data_format`` from keras.json (the blocks') store it when made."""
    previous = tf.keras.backend.image_data_format()
    tf.keras.backend.set_image_data_format(CHANNELS_LAST)
    try:
        yield
    finally:
        tf.keras.backend.set_image_data_format(previous)


def check_input_shape(input_shape, spec: BackboneSpec, include_top: bool = True) -> tuple:
    """Return ``input_shape`` as a tuple, or raise ``ValueError`` saying why it cannot work.

    ``None`` means the spec's square input with a top, and any size without one (a
    feature extractor, as in keras.applications), with 3 channels.
    """
    if input_shape is None:
        side = spec.input_size if include_top else None
        return (side, side, 3)
    shape = tuple(input_shape)
    if len(shape) != 3:
        raise ValueError(
            f"input_shape must be (height, width, channels), got {input_shape!r} with {len(shape)} dimension(s)"
        )
    height, width, channels = shape
    if channels is None or channels < 1:
        raise ValueError(f"input_shape must give a channel count >= 1, got {input_shape!r}")
    for axis, size in (("height", height), ("width", width)):
        if size is not None and size < spec.downsampling:
            raise ValueError(
                f"input_shape {input_shape!r}: {axis} {size} is too small; this backbone downsamples "
                f"by {spec.downsampling}, so {axis} must be at least {spec.downsampling}"
            )
    return shape


def _model_input(input_shape, input_tensor, spec, include_top):
    if input_tensor is None:
        return tf.keras.Input(shape=check_input_shape(input_shape, spec, include_top)), None
    if not tf.keras.backend.is_keras_tensor(input_tensor):
        input_tensor = tf.keras.Input(tensor=input_tensor, shape=input_tensor.shape[1:])
    check_input_shape(tuple(input_tensor.shape[1:]), spec)
    return input_tensor, tf.keras.utils.get_source_inputs(input_tensor)


def stem(x, spec: BackboneSpec):
    """Real-valued stem, then DWR's alignment layer when the first stage is wider."""
    s = spec.stem
    x = tf.keras.layers.Conv2D(
        s.width, s.kernel_size, strides=s.strides, padding="same", use_bias=False, data_format=CHANNELS_LAST,
        name="stem_conv",
    )(x)
    x = tf.keras.layers.BatchNormalization(name="stem_bn", **BN_KWARGS)(x)
    if s.max_pool:
        x = tf.keras.layers.MaxPool2D(s.pool_size, strides=2, padding="same", data_format=CHANNELS_LAST,
                                      name="stem_pool")(x)
    if KINDS[spec.block].aligns_stem and s.width != spec.widths[0] and s.widening == "align":
        x = ChannelAlign(spec.widths[0], name="stem_align")(x)
    return x


def head(x, spec: BackboneSpec, num_classes: int, classifier_activation):
    """The classifier ``spec.head`` describes; its layers are named ``head_...`` but for
    the pooling and the ``logits`` (see ``zoo.weights.is_top_layer``)."""
    h = spec.head
    if h.conv_width is not None:
        x = binary_conv_bn(x, h.conv_width, 1, "approx_sign", "head", precision=spec.precision)
        x = HardTanh(name="head_tanh")(x)
    if h.pool == "flatten":
        x = tf.keras.layers.Flatten(data_format=CHANNELS_LAST, name="flatten")(x)
    else:
        x = tf.keras.layers.GlobalAveragePooling2D(data_format=CHANNELS_LAST, name="avg_pool")(x)
    if h.norm:
        x = tf.keras.layers.BatchNormalization(name="head_norm", **BN_KWARGS)(x)
    for index, width in enumerate(h.hidden, start=1):
        x = tf.keras.layers.Dense(width, name=f"head_dense{index}")(x)
        x = tf.keras.layers.BatchNormalization(name=f"head_dense{index}_bn", **BN_KWARGS)(x)
        x = HardTanh(name=f"head_dense{index}_tanh")(x)
    if h.dropout:
        x = tf.keras.layers.Dropout(h.dropout, name="dropout")(x)
    x = tf.keras.layers.Dense(num_classes, name="logits")(x)
    if classifier_activation is None:
        return x
    return tf.keras.layers.Activation(classifier_activation, dtype="float32", name="predictions")(x)


def build(
    spec: BackboneSpec,
    *,
    input_shape=None,
    input_tensor=None,
    include_top: bool = True,
    num_classes: int | None = None,
    pooling: str | None = None,
    classifier_activation="softmax",
    name: str = "backbone",
) -> tf.keras.Model:
    """Build the Keras model that ``spec`` describes, with keras.applications' arguments.

    ``include_top=False`` returns the last feature map (4-D) unless ``pooling`` is
    ``"avg"`` or ``"max"``, and without ``input_shape`` takes any image size;
    ``num_classes`` defaults to the spec's head. The model is channels-last even
    when keras.json says channels-first.
    """
    num_classes = spec.head.num_classes if num_classes is None else num_classes
    num_classes = positive_int(num_classes, "num_classes")
    if pooling not in (None, *POOLINGS):
        raise ValueError(f"pooling must be None, 'avg' or 'max', got {pooling!r}")

    with channels_last():
        inputs, source_inputs = _model_input(input_shape, input_tensor, spec, include_top)
        x = stem(inputs, spec)
        for stage, (depth, width, stride) in enumerate(zip(spec.depths, spec.widths, spec.strides), start=1):
            for index in range(depth):
                x = block(x, spec.block, width, stride if index == 0 else 1, name=f"stage{stage}_block{index + 1}",
                          shortcut_kind=spec.shortcut, precision=spec.precision)

        if include_top:
            x = head(x, spec, num_classes, classifier_activation)
        elif pooling:
            x = POOLINGS[pooling](data_format=CHANNELS_LAST, name=f"{pooling}_pool")(x)
        return tf.keras.Model(source_inputs or inputs, x, name=name)


def measure_then_clear(make_model: Callable[[], tf.keras.Model], measure: Callable[[tf.keras.Model], T]) -> T:
    """``measure(make_model())``, then the Keras session cleared and the model's memory
    freed (``session.throwaway_graphs``) even when either fails: measuring many candidate
    models (a budget search, a benchmark) would otherwise pile up their graphs, layer
    names and weights in one process."""
    with throwaway_graphs():
        return measure(make_model())


def measure_at_size(spec: BackboneSpec, measure: Callable[[tf.keras.Model], T], input_size: int | None = None,
                    channels: int = 3) -> T:
    """``measure`` of ``spec`` built at ``input_size`` x ``input_size`` (default: the spec's),
    the session cleared afterwards (``measure_then_clear``)."""
    size = input_size or spec.input_size
    return measure_then_clear(lambda: build(spec, input_shape=(size, size, channels)), measure)
