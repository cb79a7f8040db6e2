"""A backbone as data: the stem, the stages (depth, width, stride), the block kind, the head.

DWR is a function from one spec to another (see ``dwr_larq.dwr.method``); ``build``
turns a spec into a Keras model. Specs are frozen dataclasses that round-trip
through plain dicts, so zoo cards can be JSON.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from dwr_larq.checks import positive_int
from dwr_larq.models.kinds import KINDS

# Fields added after cards and run folders were first written: ``to_dict`` leaves them
# out at their defaults, so what was written before reads and resumes unchanged.
LATER = {"omit_default": True}
# Block kinds that ``dwr_larq.models.blocks`` knows how to build (their TF-free data is
# in ``kinds``, so a spec validates without importing TensorFlow).
BLOCK_KINDS = tuple(KINDS)
# How a residual unit whose shape changes reaches its sum: "conv", the real-valued
# downsampling shortcut (2x2 avg pool, 1x1 conv, BN; ReActNet's); "pad", 2x2 avg pool
# then zero-padded channels (the CIFAR ResNet's option A): no float MACs, and on LCE's
# ARM kernels 6-12% fewer instructions for the ResNet-18s (shared/arm-costs what-ifs).
# Zero padding cannot narrow: a unit that narrows keeps the 1x1 conv under "pad" too.
SHORTCUTS = ("conv", "pad")
# What the convs of the blocks compute: "binary" (sign of the input, 1-bit weights) or
# "float", the full-precision twin (a ReLU then a real-valued conv, same layout and
# names), for studies that compare a binary backbone with its full-precision self.
PRECISIONS = ("binary", "float")


# How a first stage wider than the stem reads it: "align", DWR's ChannelAlign layer
# (``layers.ChannelAlign``); or "first_conv", the first binary conv reads the stem's
# channels and widens them itself, its shortcut zero-padding the stem's (the authors'
# CIFAR ResNet-20s; needs ``shortcut="pad"``).
WIDENINGS = ("align", "first_conv")
# What the head does to the last feature map before its dense layers: global average
# pooling, or flattening it (VGG-Small's classifier on the 4x4 map).
HEAD_POOLS = ("avg", "flatten")


@dataclass(frozen=True)
class StemSpec:
    """The real-valued first layer: a ``kernel_size`` conv with ``strides``, BN and
    an optional stride-2 max pool, ``pool_size`` wide (3: the ImageNet ResNet stem;
    2: VGG-11's first pool)."""

    width: int = 64
    kernel_size: int = 3
    strides: int = 1
    max_pool: bool = False
    pool_size: int = field(default=3, metadata=LATER)
    widening: str = field(default="align", metadata=LATER)

    @property
    def downsampling(self) -> int:
        return self.strides * (2 if self.max_pool else 1)


@dataclass(frozen=True)
class HeadSpec:
    """The classifier; ``num_classes`` is the dataset default.

    In order: an optional binary 3x3 conv to ``conv_width`` channels with BN and a hard
    tanh (the DWR authors' ``alg2``, which narrows a wide last stage before the
    classifier); ``pool``; an optional BN over the pooled features (``norm``, the
    authors' CIFAR and ImageNet heads); real-valued hidden dense layers of ``hidden``
    widths, each with BN and a hard tanh (VGG-11's); dropout; the dense classifier.
    """

    num_classes: int = 1000
    dropout: float = 0.0
    conv_width: int | None = field(default=None, metadata=LATER)
    pool: str = field(default="avg", metadata=LATER)
    norm: bool = field(default=False, metadata=LATER)
    hidden: tuple = field(default=(), metadata=LATER)

    def __post_init__(self):
        object.__setattr__(self, "hidden", tuple(self.hidden))


@dataclass(frozen=True)
class BackboneSpec:
    """A binary backbone: ``len(depths)`` stages of ``block`` blocks.

    ``depths[i]`` blocks of width ``widths[i]``; the first block of stage ``i``
    downsamples by ``strides[i]`` (for ``vgg`` blocks: a max pool after the conv).
    ``shortcut``: one of ``SHORTCUTS`` for the kinds with a projecting shortcut.
    """

    block: str
    depths: tuple[int, ...]
    widths: tuple[int, ...]
    strides: tuple[int, ...]
    stem: StemSpec = field(default_factory=StemSpec)
    head: HeadSpec = field(default_factory=HeadSpec)
    input_size: int = 224
    shortcut: str = "conv"
    precision: str = field(default="binary", metadata=LATER)

    def __post_init__(self):
        for name in ("depths", "widths", "strides"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if isinstance(self.stem, dict):
            object.__setattr__(self, "stem", StemSpec(**self.stem))
        if isinstance(self.head, dict):
            object.__setattr__(self, "head", HeadSpec(**self.head))
        validate(self)

    @property
    def num_stages(self) -> int:
        return len(self.depths)

    @property
    def downsampling(self) -> int:
        """Total spatial reduction from input to the last feature map."""
        return self.stem.downsampling * math.prod(self.strides)

    def replace(self, **changes) -> BackboneSpec:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return _written(self)

    @classmethod
    def from_dict(cls, data: dict) -> BackboneSpec:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"spec has unknown field(s) {unknown}; known: {sorted(known)}")
        return cls(**data)


def _written(value) -> dict:
    """``dataclasses.asdict`` with tuples as lists (JSON's), without the ``LATER`` fields
    that hold their defaults."""
    data = {}
    for f in dataclasses.fields(value):
        item = getattr(value, f.name)
        if f.metadata.get("omit_default") and item == f.default:
            continue
        if dataclasses.is_dataclass(item):
            item = _written(item)
        data[f.name] = list(item) if isinstance(item, tuple) else item
    return data


def _positive_ints(name: str, values) -> None:
    for i, value in enumerate(values):
        positive_int(value, f"spec field '{name}[{i}]'")


def validate(spec: BackboneSpec) -> None:
    """Raise ``ValueError`` naming the first field that makes ``spec`` unbuildable."""
    if spec.block not in BLOCK_KINDS:
        raise ValueError(f"spec field 'block' must be one of {list(BLOCK_KINDS)}, got {spec.block!r}")
    if not spec.depths:
        raise ValueError("spec field 'depths' is empty: a backbone needs at least one stage")
    lengths = {name: len(getattr(spec, name)) for name in ("depths", "widths", "strides")}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"spec fields 'depths', 'widths', 'strides' must have the same length, got {lengths}")
    for name in ("depths", "widths", "strides"):
        _positive_ints(name, getattr(spec, name))
    for name in ("width", "kernel_size", "strides"):
        _positive_ints(f"stem.{name}", [getattr(spec.stem, name)])
    _positive_ints("head.num_classes", [spec.head.num_classes])
    if not 0.0 <= spec.head.dropout < 1.0:
        raise ValueError(f"spec field 'head.dropout' must be in [0, 1), got {spec.head.dropout}")
    _validate_head(spec)
    _positive_ints("input_size", [spec.input_size])
    _validate_shortcut(spec)
    if spec.precision not in PRECISIONS:
        raise ValueError(f"spec field 'precision' must be one of {list(PRECISIONS)}, got {spec.precision!r}")


def _validate_head(spec: BackboneSpec) -> None:
    head, stem = spec.head, spec.stem
    if head.conv_width is not None:
        _positive_ints("head.conv_width", [head.conv_width])
    _positive_ints("head.hidden", head.hidden)
    _positive_ints("stem.pool_size", [stem.pool_size])
    for name, value, allowed in (("head.pool", head.pool, HEAD_POOLS), ("stem.widening", stem.widening, WIDENINGS)):
        if value not in allowed:
            raise ValueError(f"spec field '{name}' must be one of {list(allowed)}, got {value!r}")
    if stem.widening == "first_conv" and spec.shortcut != "pad":
        raise ValueError("spec field 'stem.widening': 'first_conv' zero-pads the stem's channels, so it needs "
                         "shortcut 'pad'")
    if not isinstance(head.norm, bool):
        raise ValueError(f"spec field 'head.norm' must be true or false, got {head.norm!r}")


def _validate_shortcut(spec: BackboneSpec) -> None:
    if spec.shortcut not in SHORTCUTS:
        raise ValueError(f"spec field 'shortcut' must be one of {list(SHORTCUTS)}, got {spec.shortcut!r}")
    if spec.shortcut == "conv":
        return
    if not KINDS[spec.block].projects_shortcut:
        raise ValueError(f"spec field 'shortcut': {spec.block!r} blocks have no conv shortcut to replace; keep 'conv'")
