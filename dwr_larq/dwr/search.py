"""DWR's pruning-guided width search: cluster each stage's output channels with DBSCAN
on a pre-trained network; a stage's new width is its clusters plus noise points."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import Union

import numpy as np

from dwr_larq.checks import positive_int
from dwr_larq.dwr.budget import check_spec
from dwr_larq.models.blocks import is_binary_conv
from dwr_larq.models.spec import BackboneSpec

log = logging.getLogger(__name__)


def stage_output_layers(model, spec: BackboneSpec) -> list:
    """The layer whose output each stage's width search clusters.

    Rule: for stage ``i`` (1-based), the last binary conv, in graph order, among the
    layers named ``stage{i}_...`` (the builder's naming). That conv produces the
    stage's output channels, so its width is the stage width. Raises ``ValueError``
    when the model does not match ``spec`` (stage missing, or width differs).
    """
    chosen = []
    for stage, width in enumerate(spec.widths, start=1):
        convs = [layer for layer in model.layers if layer.name.startswith(f"stage{stage}_") and is_binary_conv(layer)]
        if not convs:
            raise ValueError(f"model does not match its spec: stage {stage} has no binary conv named 'stage{stage}_...'")
        layer = convs[-1]
        if layer.filters != width:
            raise ValueError(
                f"model does not match its spec: stage {stage} ends with {layer.filters} channels "
                f"({layer.name}), the spec says width {width}"
            )
        chosen.append(layer)
    extra = [layer.name for layer in model.layers if layer.name.startswith(f"stage{len(spec.widths) + 1}_")]
    if extra:
        raise ValueError(f"model does not match its spec: it has more than {len(spec.widths)} stages ({extra[0]})")
    return chosen


def _calibration_batches(calibration_data, batch_size: int):
    """Yield image batches from an array, or a dataset of images or (images, labels)."""
    if isinstance(calibration_data, np.ndarray):
        if calibration_data.ndim != 4:
            raise ValueError(f"calibration images must be 4-D (N, H, W, C), got shape {calibration_data.shape}")
        for start in range(0, len(calibration_data), batch_size):
            yield calibration_data[start : start + batch_size]
        return
    for element in calibration_data:
        yield element[0] if isinstance(element, (tuple, list)) else element


def mean_feature_maps(model, layers, calibration_data, batch_size: int = 32, min_images: int = 2) -> list:
    """Per layer, its output averaged over the calibration images: a (channels, H*W) matrix.
    Fewer than ``min_images`` images (the search passes its ``min_samples``) are refused."""
    import tensorflow as tf

    probe = tf.keras.Model(model.inputs, [layer.output for layer in layers])
    sums, count = None, 0
    for images in _calibration_batches(calibration_data, batch_size):
        outputs = probe(images, training=False)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        batch = [np.asarray(tf.reduce_sum(o, axis=0), dtype=np.float64) for o in outputs]
        sums = batch if sums is None else [a + b for a, b in zip(sums, batch)]
        count += int(outputs[0].shape[0])
    if count == 0:
        raise ValueError("calibration data is empty: give at least 2 images")
    if count < min_images:
        raise ValueError(
            f"calibration data has {count} image(s): give at least {min_images} "
            "(no fewer than min_samples; the authors used 400 on CIFAR and 200 on ImageNet)"
        )
    return [(total / count).reshape(-1, total.shape[-1]).T for total in sums]


@dataclass(frozen=True)
class SearchSettings:
    """The width search's settings for one dataset family."""

    eps: float
    min_samples: int
    calibration_images: int


# The authors' settings (pingxue-hfut/DWR, CIFAR-10/ and ImageNet/ search scripts): DBSCAN,
# cosine metric, min_samples 5, on the batch-averaged pre-BN output of each stage's last
# binary conv. They drew the calibration images from the test split; we draw them from
# the training split so that no test image shapes the network.
SEARCH_DEFAULTS = {
    "cifar": SearchSettings(eps=0.021, min_samples=5, calibration_images=400),
    "imagenet": SearchSettings(eps=0.008, min_samples=5, calibration_images=200),
}
AUTO = "auto"
FLAT_CURVE = 0.5  # k-distances spread less than this fraction of the largest: no redundant channels
MIN_KNEE_DEPTH = 0.5  # how far below its chord (axes scaled to [0, 1]) a k-distance curve must bend
DUPLICATE_SCALE = 0.1  # with no knee: neighbours this much closer than typical pairs make duplicates
Eps = Union[float, str]


def search_defaults(input_size: int) -> SearchSettings:
    """The authors' settings for a backbone of this input size: ImageNet's from 128 pixels up."""
    return SEARCH_DEFAULTS["imagenet" if input_size >= 128 else "cifar"]


def check_search_settings(eps: Eps, min_samples: int, metric: str = "cosine") -> None:
    """One clear error for settings DBSCAN would reject or silently make meaningless."""
    positive_int(min_samples, "min_samples")
    if eps == AUTO:
        return
    if isinstance(eps, bool) or not isinstance(eps, (int, float, np.floating)):
        raise ValueError(f"eps must be a number in (0, 2] or 'auto', got {eps!r}")
    upper = 2.0 if metric == "cosine" else float("inf")  # cosine distances lie in [0, 2]
    if not 0 < eps <= upper:
        bounds = "(0, 2] (cosine distances lie in [0, 2])" if metric == "cosine" else "> 0"
        raise ValueError(f"eps must be in {bounds} or 'auto', got {eps!r}")


def knee_eps(feature_maps: np.ndarray, min_samples: int, metric: str = "cosine") -> float:
    """An eps for DBSCAN read off the data: the knee of the sorted k-distance curve.

    Each channel's distance to its ``min_samples``-th nearest neighbour (itself counted,
    as DBSCAN counts it), sorted: channels that have near-duplicates sit on the flat
    part, distinct ones on the steep tail. The knee is the point farthest below the
    chord from the first to the last point of the curve, both axes scaled to [0, 1].
    A curve with no knee (spread under ``FLAT_CURVE`` of its top, or bending less than
    ``MIN_KNEE_DEPTH`` below its chord) is all duplicates or none; the typical pairwise
    distance tells which.
    """
    from sklearn.neighbors import NearestNeighbors

    from sklearn.metrics import pairwise_distances

    channels = feature_maps.shape[0]
    if channels < 2:
        raise ValueError(f"eps='auto' needs at least 2 channels, got {channels}")
    k = min(min_samples, channels)
    distances, _ = NearestNeighbors(n_neighbors=k, metric=metric).fit(feature_maps).kneighbors(feature_maps)
    curve = np.sort(distances[:, -1])
    spread = curve[-1] - curve[0]
    if spread >= FLAT_CURVE * curve[-1]:
        x = np.linspace(0.0, 1.0, len(curve))
        y = (curve - curve[0]) / spread
        knee = int(np.argmax(x - y))  # farthest below the chord y = x of a convex, rising curve
        if x[knee] - y[knee] >= MIN_KNEE_DEPTH:
            return float(max(curve[knee], 1e-6))
    # No knee: every channel is about as far from its neighbours as any other. Either all
    # of them have near-duplicates (neighbours far closer than channels typically are to
    # each other), and an eps just above the largest k-distance groups them; or none has,
    # and an eps below the smallest keeps every channel (all noise, width unchanged).
    typical = float(np.median(pairwise_distances(feature_maps, metric=metric)))
    if curve[-1] < DUPLICATE_SCALE * typical:
        return float(curve[-1] * 1.01 + 1e-9)
    return float(max(curve[0] / 2, 1e-6))


@dataclass(frozen=True)
class StageSearch:
    """What DBSCAN found in one stage, and the eps it used (chosen, with eps='auto')."""

    stage: int
    layer: str
    channels: int
    clusters: int
    noise: int
    eps: float | None = None

    @property
    def width(self) -> int:
        return self.clusters + self.noise


def cluster_channels(feature_maps: np.ndarray, eps: float, min_samples: int, metric: str) -> tuple[int, int]:
    """(clusters, noise points) of DBSCAN over the rows (channels) of a (C, H*W) matrix."""
    from sklearn.cluster import DBSCAN

    labels = DBSCAN(eps=eps, min_samples=min_samples, metric=metric).fit(feature_maps).labels_
    noise = int(np.sum(labels == -1))
    return len(set(labels.tolist()) - {-1}), noise


def _warn_if_degenerate(result: StageSearch, eps: float) -> None:
    if result.noise == result.channels:
        warnings.warn(
            f"stage {result.stage}: eps={eps} makes every one of its {result.channels} channels noise, "
            "so its width is unchanged; try a larger eps",
            stacklevel=3,
        )
    elif result.width == 1:
        warnings.warn(
            f"stage {result.stage}: eps={eps} puts all {result.channels} channels in one cluster, "
            "so its width would be 1; try a smaller eps",
            stacklevel=3,
        )


def width_search(
    model, spec: BackboneSpec, calibration_data, eps: Eps | None = None, min_samples: int = 5, metric: str = "cosine"
) -> tuple[BackboneSpec, list]:
    """``search_widths`` that also returns each stage's ``StageSearch``."""
    check_spec(spec)
    eps = search_defaults(spec.input_size).eps if eps is None else eps
    check_search_settings(eps, min_samples, metric)
    layers = stage_output_layers(model, spec)
    maps = mean_feature_maps(model, layers, calibration_data, min_images=max(2, min_samples))
    results = []
    for stage, (layer, matrix) in enumerate(zip(layers, maps), start=1):
        stage_eps = knee_eps(matrix, min_samples, metric) if eps == AUTO else float(eps)
        clusters, noise = cluster_channels(matrix, stage_eps, min_samples, metric)
        result = StageSearch(stage, layer.name, matrix.shape[0], clusters, noise, stage_eps)
        _warn_if_degenerate(result, stage_eps)
        log.info("stage %d (%s): eps %.4g, %d channels -> %d clusters + %d noise", stage, layer.name, stage_eps,
                 result.channels, clusters, noise)
        results.append(result)
    return spec.replace(widths=tuple(r.width for r in results)), results


def search_widths(
    model, spec: BackboneSpec, calibration_data, eps: Eps | None = None, min_samples: int = 5, metric: str = "cosine"
) -> BackboneSpec:
    """DWR's pruning-guided width search: a spec whose stage widths are the number of
    distinct channels (DBSCAN clusters + noise points) of each stage's output on the
    calibration data. ``eps`` defaults to the authors' value for the spec's family
    (0.021 CIFAR-sized, 0.008 ImageNet-sized; ``SEARCH_DEFAULTS``); the right value
    depends on the network and the data, so ``eps="auto"`` picks each stage's from the
    knee of its k-distance curve."""
    return width_search(model, spec, calibration_data, eps, min_samples, metric)[0]
