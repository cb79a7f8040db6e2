"""DWR's pruning-guided width search: cluster each stage's output channels with DBSCAN
on a pre-trained network; a stage's new width is its clusters plus noise points."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np

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


def mean_feature_maps(model, layers, calibration_data, batch_size: int = 32) -> list:
    """Per layer, its output averaged over the calibration images: a (channels, H*W) matrix."""
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
    if count < 2:
        raise ValueError("calibration data has a single image: give at least 2 (the paper uses about 400)")
    return [(total / count).reshape(-1, total.shape[-1]).T for total in sums]


@dataclass(frozen=True)
class StageSearch:
    """What DBSCAN found in one stage."""

    stage: int
    layer: str
    channels: int
    clusters: int
    noise: int

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
    model, spec: BackboneSpec, calibration_data, eps: float = 0.02, min_samples: int = 5, metric: str = "cosine"
) -> tuple[BackboneSpec, list]:
    """``search_widths`` that also returns each stage's ``StageSearch``."""
    check_spec(spec)
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps!r}")
    layers = stage_output_layers(model, spec)
    maps = mean_feature_maps(model, layers, calibration_data)
    results = []
    for stage, (layer, matrix) in enumerate(zip(layers, maps), start=1):
        clusters, noise = cluster_channels(matrix, eps, min_samples, metric)
        result = StageSearch(stage, layer.name, matrix.shape[0], clusters, noise)
        _warn_if_degenerate(result, eps)
        log.info("stage %d (%s): %d channels -> %d clusters + %d noise", stage, layer.name, result.channels, clusters, noise)
        results.append(result)
    return spec.replace(widths=tuple(r.width for r in results)), results


def search_widths(
    model, spec: BackboneSpec, calibration_data, eps: float = 0.02, min_samples: int = 5, metric: str = "cosine"
) -> BackboneSpec:
    """DWR's pruning-guided width search: a spec whose stage widths are the number of
    distinct channels (DBSCAN clusters + noise points) of each stage's output on the
    calibration data. ``eps=0.02`` is close to the authors' 0.021 for cosine."""
    return width_search(model, spec, calibration_data, eps, min_samples, metric)[0]
