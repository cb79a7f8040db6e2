"""The DWR method wired to this project's measurements and training.

``dwr_larq.dwr`` depends on ``models/`` only: pre-training and what a named budget
measures reach it as functions. This module is the one place they are wired to their
defaults: ``training.pretrain`` for the pre-training, Larq's profile for binary MACs
and OPs, this host's LCE interpreter for latency and ``deploy.arm_cost`` for the ARM
estimate; ``card_figures`` measures what a reshaped card records (``dwr-larq reshape``,
``scripts/lce_cards.py``).

    >>> from dwr_larq import reshaping
    >>> reshaping.match_budget(spec, reference, by="arm", divisor=32)
    >>> result = reshaping.reshape(original, train_data, calibration, s=3)
"""

from __future__ import annotations

import functools

from dwr_larq.dwr import budget as _budget
from dwr_larq.dwr.budget import Budget
from dwr_larq.models.spec import BackboneSpec


def _profile(figure: str):
    def measure(spec: BackboneSpec, input_size: int | None = None) -> float:
        from dwr_larq.models.costs import measure_spec

        return getattr(measure_spec(spec, input_size=input_size), figure)

    measure.__name__ = f"measure_{figure}"
    return measure


@functools.lru_cache(maxsize=256)
def measure_arm(spec: BackboneSpec, input_size: int | None = None) -> float:
    """Estimated ARM instructions of the LCE-converted spec (``dwr_larq.deploy.arm_cost``);
    a ``ValueError`` if it does not convert or has ops the cost model cannot price.
    Kept per spec, as a conversion takes seconds and the same reference recurs."""
    from dwr_larq.deploy import arm_cost

    what = f"ARM budget of depths {list(spec.depths)}, widths {list(spec.widths)}"
    return arm_cost.require_complete(arm_cost.estimate_spec(spec, input_size=input_size), what)


def measure_latency(spec: BackboneSpec, input_size: int | None = None, runs: int = 10, threads: int = 1,
                    timer=None) -> float:
    """Median milliseconds per image of the LCE-converted spec, timed by ``timer`` (a
    ``dwr_larq.deploy.timer.Timer``; default: this host's LCE interpreter), the same way
    ``dwr-larq benchmark`` times it."""
    from dwr_larq.deploy.convert import to_flatbuffer
    from dwr_larq.deploy.timer import time_flatbuffer
    from dwr_larq.models.builder import measure_at_size

    flatbuffer = measure_at_size(spec, to_flatbuffer, input_size)
    return time_flatbuffer(flatbuffer, timer, threads=threads, runs=runs, warmup=2).median_ms


# Every named budget's measure: a test checks that none is missing.
MEASURES = {
    Budget.BINARY_MACS: _profile("binary_macs"),
    Budget.OPS: _profile("ops"),
    Budget.LATENCY: measure_latency,
    Budget.ARM: measure_arm,
}


def card_figures(spec, source_spec, arm: "bool | tuple" = False) -> dict:
    """A reshaped card's measured figures and their ratios to its source's; with ``arm``,
    also the ARM estimate: ``True`` measures both (two LCE conversions), a pair
    ``(spec's, source's)`` gives instructions already estimated."""
    from dwr_larq.models import costs

    original = costs.measure_spec(source_spec)
    final = costs.measure_spec(spec)
    figures = {
        "binary_macs": final.binary_macs,
        "activations": final.activations,
        "activations_out": final.activations_out,
        "binary_macs_vs_source": round(final.binary_macs / original.binary_macs, 4),
        "activations_vs_source": round(final.activations / original.activations, 4),
    }
    if arm:
        spec_arm, source_arm = (measure_arm(spec), measure_arm(source_spec)) if arm is True else arm
        figures.update(arm_instructions=round(spec_arm), arm_vs_source=round(spec_arm / source_arm, 4))
    return figures


def pretrain(*args, **kwargs):
    """``dwr_larq.training.pretrain.pretrain`` (imported on use: it loads TensorFlow)."""
    from dwr_larq.training.pretrain import pretrain as project_pretrain

    return project_pretrain(*args, **kwargs)


def match_budget(spec: BackboneSpec, reference: BackboneSpec, by="binary_macs", **options) -> BackboneSpec:
    """``dwr.match_budget`` with the project's measures for the named budgets."""
    return _budget.match_budget(spec, reference, by, measures=MEASURES, **options)


def reshape(original: BackboneSpec, train_data, calibration_data, **options):
    """``dwr.reshape`` (a ``DWRResult``) with the project's pre-training and budget measures."""
    from dwr_larq.dwr import method

    return method.reshape(original, train_data, calibration_data, pretrain=pretrain, measures=MEASURES, **options)
