"""DWR's budget arithmetic, with no TensorFlow: naive reshaping, width scaling and
matching a budget. What a budget measures (binary MACs from a built model, OPs,
latency, the ARM estimate of the converted model) is passed in as a function of a
spec; ``dwr_larq.reshaping.MEASURES`` wires the named budgets to the project's own.
"""

from __future__ import annotations

import math
import warnings
from enum import StrEnum
from typing import Callable, Mapping

from dwr_larq.checks import member, number_at_least, positive_int
from dwr_larq.models.kinds import KINDS, conv3x3_macs, stage_binary_macs
from dwr_larq.models.spec import BackboneSpec

# Widths LCE processes in whole: it bitpacks input channels into 32-bit words and its
# aarch64 BGEMM computes output channels in tiles of 8, so a multiple of 32 wastes
# neither. The figures (shared/arm-costs) decide it: a channel count that is not a
# multiple of 32 makes LceQuantize pack pixel by pixel (about 106 instructions per pixel
# instead of 0.39 per element: +7.0M instructions for ResNet34DWR, +10.5M for
# ReActNetADWR), and ResNet18DWR rounded to multiples of 32 at its binary MACs costs
# 2.7% fewer ARM instructions (125.7M against 129.2M), while multiples of 64 matched to
# the same MACs cost more (127.2M): coarser steps buy nothing, as LCE 0.16's kernels
# use 32-bit words.
LCE_DIVISOR = 32


class Budget(StrEnum):
    """The named budgets a reshaped backbone can be matched on (a closed set)."""

    BINARY_MACS = "binary_macs"
    OPS = "ops"
    LATENCY = "latency"
    ARM = "arm"  # estimated ARM instructions of the LCE-converted model


# What a named budget's measure is: the spec and the input side it is measured at
# (None: the spec's) to a number.
Measure = Callable[[BackboneSpec, "int | None"], float]


class BudgetMiss(ValueError):
    """``match_budget`` could not bring the budget within tolerance; ``closest`` is the best spec found."""

    def __init__(self, message: str, closest: BackboneSpec, error: float):
        super().__init__(message)
        self.closest, self.error = closest, error


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
    """Binary MACs of each stage, relative to the first stage's output pixels (the last
    stage's with the head's binary conv, which reads it)."""
    aligned = KINDS[spec.block].aligns_stem and spec.stem.widening == "align"
    costs = []
    for stage, (depth, width, pixels) in enumerate(zip(depths, widths, _stage_pixels(spec))):
        if stage == 0:
            in_channels = width if aligned else spec.stem.width
        else:
            in_channels = widths[stage - 1]
        costs.append(pixels * stage_binary_macs(spec.block, in_channels, width, depth))
    if spec.head.conv_width is not None:  # the head's binary conv reads the last stage: counted with it
        costs[-1] += _stage_pixels(spec)[-1] * conv3x3_macs(widths[-1], spec.head.conv_width)
    return costs


def naive(spec: BackboneSpec, s: float, divisor: int = LCE_DIVISOR) -> BackboneSpec:
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
    number_at_least(s, "s", 1)
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


def budget_function(by, measures: Mapping[Budget, Measure] | None, input_size: int | None = None) -> Callable[[BackboneSpec], float]:
    """``by`` as a function of a spec: itself when it is one, else the named budget's
    measure from ``measures`` at ``input_size``."""
    if callable(by):
        return by
    budget = member(Budget, by, "budget 'by' (or a function of a spec)")
    if not measures or budget not in measures:
        raise ValueError(f"no measure for budget {budget.value!r}: pass measures (dwr_larq.reshaping.MEASURES holds "
                         f"the project's) or use dwr_larq.reshaping.match_budget")
    measure = measures[budget]
    return lambda spec: measure(spec, input_size)


def scale_widths(spec: BackboneSpec, factor: float, divisor: int = 1, keep=()) -> BackboneSpec:
    """Widths times ``factor``, rounded to ``divisor``; stages (0-based) in ``keep`` stay as they are."""
    return spec.replace(widths=tuple(w if i in keep else round_width(w * factor, divisor) for i, w in enumerate(spec.widths)))


def _refine(spec: BackboneSpec, relative_error, divisor: int, tolerance: float, max_moves: int, keep=()):
    """Step single stage widths by one ``divisor`` while that brings the budget closer:
    one uniform factor moves coarsely rounded widths all at once, so it can jump over
    the target (multiples of 64 on ResNet18DWR: -12% or +8% and nothing between)."""
    error, best = relative_error(spec)
    step = max(divisor, 1)
    for _ in range(max_moves):
        if abs(error) <= tolerance:
            break
        moves = [best.replace(widths=best.widths[:i] + (w + sign * step,) + best.widths[i + 1 :])
                 for i, w in enumerate(best.widths) for sign in (1, -1) if w + sign * step >= step and i not in keep]
        found = min((relative_error(m) for m in moves), key=lambda item: abs(item[0]))
        if abs(found[0]) >= abs(error):
            break
        error, best = found
    return error, best


def match_budget(
    spec: BackboneSpec,
    reference: BackboneSpec,
    by="binary_macs",
    tolerance: float = 0.05,
    divisor: int = 1,
    input_size: int | None = None,
    max_steps: int = 24,
    on_miss: str = "raise",
    keep=(),
    measures: Mapping[Budget, Measure] | None = None,
) -> BackboneSpec:
    """Scale ``spec``'s widths by one factor until ``by`` is within ``tolerance`` of
    ``reference``'s. ``by``: a function of a spec, or a ``Budget`` name ("binary_macs",
    "ops", "latency", "arm": the estimated ARM instructions) measured by ``measures``
    (``dwr_larq.reshaping.match_budget`` passes the project's).

    Bisection over the factor, widths rounded to ``divisor``; if rounding leaves it
    outside the tolerance, single stages are stepped by ``divisor`` towards the target.
    Still outside, it raises ``BudgetMiss`` saying by how much (``on_miss="warn"``:
    warns so and returns the closest spec). Stages (0-based) in ``keep`` keep their
    width: the first stage at the stem's width, for one, needs no ChannelAlign and
    holds the activations of the largest feature maps down.
    """
    check_spec(spec)
    if not 0 < tolerance < 1:
        raise ValueError(f"tolerance must be in (0, 1), got {tolerance!r}")
    if on_miss not in ("raise", "warn"):
        raise ValueError(f"on_miss must be 'raise' or 'warn', got {on_miss!r}")
    budget = budget_function(by, measures, input_size)
    target = budget(reference)
    cache = {}

    def error_of(candidate):
        if candidate.widths not in cache:
            cache[candidate.widths] = (budget(candidate) / target - 1.0, candidate)
        return cache[candidate.widths]

    keep = tuple(keep)
    if any(not 0 <= i < len(spec.widths) for i in keep) or len(keep) >= len(spec.widths):
        raise ValueError(f"keep must name some, not all, of stages 0-{len(spec.widths) - 1}, got {list(keep)}")

    def relative_error(factor):
        return error_of(scale_widths(spec, factor, divisor, keep))

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
    closest = min(cache.values(), key=lambda item: abs(item[0]))[1]
    error, closest = _refine(closest, error_of, divisor, tolerance, max_moves=2 * len(spec.widths), keep=keep)
    if abs(error) <= tolerance:
        return closest
    name = by if isinstance(by, str) else "budget"
    message = (f"match_budget: widths in multiples of {divisor} cannot reach ±{tolerance:.0%} of the reference's {name}; "
               f"the closest, widths {list(closest.widths)}, is {error:+.1%} from it")
    if on_miss == "warn":
        warnings.warn(message, stacklevel=2)
        return closest
    raise BudgetMiss(message, closest, error)
