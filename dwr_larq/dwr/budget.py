"""DWR's budget arithmetic, with no TensorFlow: naive reshaping, width scaling and
matching a budget (binary MACs from each block kind's cost model, or any function of
a spec: OPs and latency are measured on a built model and import TensorFlow then).
"""

from __future__ import annotations

import math
import warnings
from typing import Callable

from dwr_larq.checks import positive_int
from dwr_larq.models.kinds import KINDS, stage_binary_macs
from dwr_larq.models.spec import BackboneSpec



def round_width(width: float, divisor: int) -> int:
    """Nearest multiple of ``divisor``, at least ``divisor``."""
    return max(divisor, int(math.floor(width / divisor + 0.5)) * divisor)


def check_spec(spec: BackboneSpec) -> None:
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
    aligned = KINDS[spec.block].aligns_stem
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
    check_spec(spec)
    if isinstance(s, bool) or not isinstance(s, (int, float)) or not s >= 1:
        raise ValueError(f"s must be a number >= 1, got {s!r}")
    positive_int(divisor, "divisor")
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


# --- budget matching -------------------------------------------------------------


def _budget_function(by, input_size: int | None) -> Callable[[BackboneSpec], float]:
    if callable(by):
        return by
    if by in ("binary_macs", "ops"):
        from dwr_larq.models.costs import measure_spec

        return lambda spec: getattr(measure_spec(spec, input_size=input_size), by)
    if by == "latency":
        return lambda spec: measure_latency(spec, input_size=input_size)
    raise ValueError(f"budget 'by' must be 'binary_macs', 'ops', 'latency' or a function of a spec, got {by!r}")


def measure_latency(spec: BackboneSpec, input_size: int | None = None, runs: int = 10, threads: int = 1,
                    timer=None) -> float:
    """Median milliseconds per image of the LCE-converted spec, timed by ``timer`` (a
    ``dwr_larq.deploy.timer.Timer``; default: this host's LCE interpreter), the same way
    ``dwr-larq benchmark`` times it."""
    import tensorflow as tf

    from dwr_larq.deploy.convert import to_flatbuffer
    from dwr_larq.deploy.timer import time_flatbuffer
    from dwr_larq.models.builder import build

    size = input_size or spec.input_size
    flatbuffer = to_flatbuffer(build(spec, input_shape=(size, size, 3)))
    tf.keras.backend.clear_session()
    return time_flatbuffer(flatbuffer, timer, threads=threads, runs=runs, warmup=2).median_ms


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
    check_spec(spec)
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
