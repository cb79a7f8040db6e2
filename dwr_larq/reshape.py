"""Depth-Width Reshaping (DWR): from one backbone spec to a shallower, wider one.

The method (Xue et al., AAAI 2023) in three steps, each a function here:

1. ``naive(spec, s)``: divide each stage's depth by ``s`` and widen it so the stage
   keeps its binary MACs (about ``sqrt(s)`` wider; activations fall about ``sqrt(s)``).
2. ``search_widths(model, spec, calibration)``: after a short pre-training of the
   naive network, cluster each stage's output channels with DBSCAN; the stage's new
   width is the number of clusters plus noise points (the distinct channels).
3. ``match_budget(spec, reference)``: scale all widths by one factor, keeping the
   searched proportions, until a budget (binary MACs, OPs or latency) matches.

``dwr(...)`` runs the three with a Keras ``fit`` pre-training in between.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from dwr_larq.blocks import BLOCKS, is_binary_conv, stage_binary_macs
from dwr_larq.spec import BackboneSpec

log = logging.getLogger(__name__)


def round_width(width: float, divisor: int) -> int:
    """Nearest multiple of ``divisor``, at least ``divisor``."""
    return max(divisor, int(math.floor(width / divisor + 0.5)) * divisor)


def _check_spec(spec: BackboneSpec) -> None:
    if not isinstance(spec, BackboneSpec):
        raise ValueError(f"expected a BackboneSpec, got {type(spec).__name__}")
    if not spec.depths:
        raise ValueError("the spec has no stages")


def _stage_pixels(spec: BackboneSpec) -> list:
    """Relative output pixels of each stage (1 for an unstrided first stage)."""
    pixels, scale = [], 1
    for stride in spec.strides:
        scale *= stride
        pixels.append(1.0 / scale**2)
    return pixels


def _stage_costs(spec: BackboneSpec, depths, widths) -> list:
    """Binary MACs of each stage, relative to the first stage's output pixels."""
    aligned = BLOCKS[spec.block].aligns_stem
    costs = []
    for stage, (depth, width, pixels) in enumerate(zip(depths, widths, _stage_pixels(spec))):
        if stage == 0:
            in_channels = width if aligned else spec.stem.width
        else:
            in_channels = widths[stage - 1]
        costs.append(pixels * stage_binary_macs(spec.block, in_channels, width, depth))
    return costs


def naive(spec: BackboneSpec, s: float, divisor: int = 8) -> BackboneSpec:
    """DWR's naive reshaping: depths divided by ``s`` (at least 1, rounded half up),
    widths scaled so the backbone keeps its binary MACs, rounded to ``divisor``.

    Stage ``i`` is widened by ``sqrt(units_i / new_units_i)``, which keeps its MACs
    when they grow with width squared, then all widths by one factor that makes
    the total binary MACs equal again (a stage's first conv reads the previous
    stage's width, so the per-stage factors alone miss a little). Rounding picks,
    among the multiples of ``divisor`` next to the exact width, the one that keeps
    the running total closest to the original's, so a coarse divisor on narrow
    stages does not drift the whole backbone's budget.
    """
    _check_spec(spec)
    if isinstance(s, bool) or not isinstance(s, (int, float)) or not s >= 1:
        raise ValueError(f"s must be a number >= 1, got {s!r}")
    if isinstance(divisor, bool) or not isinstance(divisor, int) or divisor < 1:
        raise ValueError(f"divisor must be an integer >= 1, got {divisor!r}")
    depths = [max(1, int(math.floor(d / s + 0.5))) for d in spec.depths]
    target = sum(_stage_costs(spec, spec.depths, spec.widths))
    widened = [w * math.sqrt(old / new) for w, old, new in zip(spec.widths, spec.depths, depths)]

    def total(factor):
        return sum(_stage_costs(spec, depths, [w * factor for w in widened]))

    low, high = 0.0, 1.0
    while total(high) < target:
        high *= 2
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if total(middle) < target else (low, middle)
    exact = [w * high for w in widened]

    original = _stage_costs(spec, spec.depths, spec.widths)
    widths = []
    for stage, width in enumerate(exact):
        low = max(divisor, int(width // divisor) * divisor)

        def drift(candidate):
            trial = widths + [candidate] + exact[stage + 1 :]
            return abs(sum(_stage_costs(spec, depths, trial)[: stage + 1]) - sum(original[: stage + 1]))

        candidates = [c for c in (low - divisor, low, low + divisor, low + 2 * divisor) if c >= divisor]
        widths.append(min(candidates, key=drift))
    return spec.replace(depths=tuple(depths), widths=tuple(widths))


# --- pruning-guided width search -------------------------------------------------


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
    _check_spec(spec)
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


# --- budget matching -------------------------------------------------------------


def _budget_function(by, input_size: int | None) -> Callable[[BackboneSpec], float]:
    if callable(by):
        return by
    if by in ("binary_macs", "ops"):
        from dwr_larq.metrics import measure_spec

        return lambda spec: getattr(measure_spec(spec, input_size=input_size), by)
    if by == "latency":
        return lambda spec: measure_latency(spec, input_size=input_size)
    raise ValueError(f"budget 'by' must be 'binary_macs', 'ops', 'latency' or a function of a spec, got {by!r}")


def measure_latency(spec: BackboneSpec, input_size: int | None = None, runs: int = 10, threads: int = 1) -> float:
    """Median milliseconds per image of the LCE-converted spec on this machine."""
    import tensorflow as tf

    from dwr_larq import timing
    from dwr_larq.builder import build
    from dwr_larq.convert import to_flatbuffer

    size = input_size or spec.input_size
    flatbuffer = to_flatbuffer(build(spec, input_shape=(size, size, 3)))
    tf.keras.backend.clear_session()
    return float(np.median(timing.measure(flatbuffer, threads=threads, runs=runs, warmup=2)["times_ms"]))


def scale_widths(spec: BackboneSpec, factor: float, divisor: int = 1) -> BackboneSpec:
    return spec.replace(widths=tuple(round_width(w * factor, divisor) for w in spec.widths))


def match_budget(
    spec: BackboneSpec,
    reference: BackboneSpec,
    by="binary_macs",
    tolerance: float = 0.05,
    divisor: int = 1,
    input_size: int | None = None,
    max_steps: int = 24,
) -> BackboneSpec:
    """Scale ``spec``'s widths by one factor until ``by`` is within ``tolerance`` of
    ``reference``'s. ``by``: "binary_macs", "ops", "latency" or a function of a spec.

    Bisection over the factor; warns and returns the closest spec if rounding widths
    to ``divisor`` makes the tolerance unreachable.
    """
    _check_spec(spec)
    if not 0 < tolerance < 1:
        raise ValueError(f"tolerance must be in (0, 1), got {tolerance!r}")
    budget = _budget_function(by, input_size)
    target = budget(reference)
    cache = {}

    def relative_error(factor):
        candidate = scale_widths(spec, factor, divisor)
        if candidate.widths not in cache:
            cache[candidate.widths] = (budget(candidate) / target - 1.0, candidate)
        return cache[candidate.widths]

    error, best = relative_error(1.0)
    if abs(error) <= tolerance:
        return best
    low, high = (0.0, 1.0) if error > 0 else (1.0, 2.0)
    while error < 0 and relative_error(high)[0] < 0:
        low, high = high, high * 2
    for _ in range(max_steps):
        middle = (low + high) / 2
        error, candidate = relative_error(middle)
        if abs(error) <= tolerance:
            return candidate
        low, high = (middle, high) if error < 0 else (low, middle)
    error, closest = min(cache.values(), key=lambda item: abs(item[0]))
    warnings.warn(f"match_budget: closest {by} is {error:+.1%} from the reference, outside ±{tolerance:.0%}", stacklevel=2)
    return closest


# --- the whole method ----------------------------------------------------------


@dataclass
class DWRResult:
    """Every intermediate spec of a DWR run and the settings that made it."""

    original: BackboneSpec
    naive: BackboneSpec
    searched: BackboneSpec
    final: BackboneSpec
    stages: list
    settings: dict = field(default_factory=dict)
    history: dict = field(default_factory=dict)

    def provenance(self) -> dict:
        return {
            **self.settings,
            "naive": {"depths": list(self.naive.depths), "widths": list(self.naive.widths)},
            "searched_widths": list(self.searched.widths),
            "stages": [
                {"stage": r.stage, "layer": r.layer, "channels": r.channels, "clusters": r.clusters, "noise": r.noise}
                for r in self.stages
            ],
            "pretrain_history": self.history,
        }


def pretrain(
    spec: BackboneSpec,
    train_data,
    epochs: int,
    batch_size: int = 64,
    learning_rate: float = 1e-3,
    input_size=None,
    verbose=0,
    seed: int | None = 0,
    num_classes: int | None = None,
):
    """Short Keras ``fit`` of a spec (Adam, cross-entropy): what the width search reads.

    ``seed`` fixes initialisation and shuffling so a DWR run can be repeated;
    ``num_classes`` (default: the spec's) is the pre-training data's class count.
    """
    import tensorflow as tf

    from dwr_larq.builder import build

    if seed is not None:
        tf.keras.utils.set_random_seed(seed)
    if isinstance(train_data, tuple):
        shape = train_data[0].shape[1:]
    else:
        shape = tuple(train_data.element_spec[0].shape[1:])
    size = input_size or shape[0] or spec.input_size
    model = build(spec, input_shape=(size, size, shape[-1] or 3), num_classes=num_classes)
    model.compile(
        optimizer=tf.keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    if isinstance(train_data, tuple):
        history = model.fit(*train_data, epochs=epochs, batch_size=batch_size, verbose=verbose)
    else:
        history = model.fit(train_data, epochs=epochs, verbose=verbose)
    return model, {key: [round(float(v), 4) for v in values] for key, values in history.history.items()}


def dwr(
    original: BackboneSpec,
    train_data,
    calibration_data,
    s: float = 2,
    pretrain_epochs: int = 3,
    eps: float = 0.02,
    min_samples: int = 5,
    metric: str = "cosine",
    divisor: int = 8,
    budget: str = "binary_macs",
    tolerance: float = 0.05,
    batch_size: int = 64,
    learning_rate: float = 1e-3,
    verbose: int = 0,
    seed: int | None = 0,
    num_classes: int | None = None,
) -> DWRResult:
    """The whole method: naive reshaping, pre-training, width search, budget matching.

    ``train_data``: a ``(images, labels)`` tuple of arrays or a batched
    ``tf.data.Dataset`` of (images, labels) with ``num_classes`` classes (default: the
    spec's); ``calibration_data``: images (an array or a dataset). The final spec
    keeps the original's head and should then be trained from scratch.
    """
    naive_spec = naive(original, s, divisor)
    model, history = pretrain(
        naive_spec, train_data, pretrain_epochs, batch_size, learning_rate, verbose=verbose, seed=seed,
        num_classes=num_classes,
    )
    searched, stages = width_search(model, naive_spec, calibration_data, eps, min_samples, metric)
    final = match_budget(searched, original, by=budget, tolerance=tolerance)
    calibration_images = len(calibration_data) if isinstance(calibration_data, np.ndarray) else None
    settings = {
        "s": s,
        "eps": eps,
        "min_samples": min_samples,
        "metric": metric,
        "divisor": divisor,
        "pretrain_epochs": pretrain_epochs,
        "calibration_images": calibration_images,
        "budget": budget,
        "tolerance": tolerance,
        "seed": seed,
    }
    return DWRResult(original, naive_spec, searched, final, stages, settings, history)
