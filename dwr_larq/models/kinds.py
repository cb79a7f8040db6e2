"""Block kinds as data, with no TensorFlow: how many binary units a block has, whether the
first stage reads the stem through ChannelAlign, and each unit's binary-MAC cost model.

The TF-free half of ``blocks``: specs validate against it and DWR's budget arithmetic
prices stages with it; ``blocks`` adds the Keras unit that builds each kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class BlockKind:
    """How a block is made: ``units_per_block`` units, the first carrying the stride.

    ``aligns_stem``: the first stage reads the stem through DWR's ChannelAlign when
    their widths differ, rather than a 1x1 conv shortcut (DWR's residual backbones).

    ``binary_macs`` gives one unit's binary MACs per output pixel from its input and
    output widths: the cost model DWR's reshaping keeps constant.

    ``projects_shortcut``: a unit whose shape changes reaches its sum through the float
    downsampling shortcut (avg pool, 1x1 conv, BN), which a spec may swap for avg pool
    and zero-padded channels (``BackboneSpec.shortcut``).
    """

    units_per_block: int
    aligns_stem: bool
    binary_macs: Callable[[int, int], int]
    projects_shortcut: bool = True


def conv3x3_macs(channels: int, width: int) -> int:
    """MACs per output pixel of a 3x3 conv from ``channels`` to ``width``."""
    return 9 * channels * width


def _reactnet_a_macs(channels: int, width: int) -> int:
    """A 3x3 conv keeping ``channels``, then a 1x1 conv to ``width``."""
    return 9 * channels**2 + channels * width


KINDS = {
    "bireal": BlockKind(1, aligns_stem=True, binary_macs=conv3x3_macs),
    "reactnet": BlockKind(1, aligns_stem=True, binary_macs=conv3x3_macs),
    # The two-conv CIFAR basic block, with a shortcut around each binary conv as in
    # IR-Net's and Bi-Real's CIFAR ResNets (binary ResNets train poorly otherwise).
    "basic": BlockKind(2, aligns_stem=True, binary_macs=conv3x3_macs),
    # The same with ReActNet units (RSign, RPReLU): the DWR authors' CIFAR ResNet-20+ReActNet.
    "react_basic": BlockKind(2, aligns_stem=True, binary_macs=conv3x3_macs),
    "vgg": BlockKind(1, aligns_stem=False, binary_macs=conv3x3_macs, projects_shortcut=False),
    # Its shortcuts are parameter-free already: avg pool, and channels repeated.
    "reactnet_a": BlockKind(1, aligns_stem=False, binary_macs=_reactnet_a_macs, projects_shortcut=False),
}


def stage_binary_macs(kind: str, in_channels: int, width: int, depth: int) -> int:
    """Binary MACs per output pixel of a stage of ``depth`` blocks of ``kind``."""
    spec = KINDS[kind]
    units = depth * spec.units_per_block
    return spec.binary_macs(in_channels, width) + (units - 1) * spec.binary_macs(width, width)
