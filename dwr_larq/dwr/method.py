"""Depth-Width Reshaping (DWR): from one backbone spec to a shallower, wider one.

The method (Xue et al., AAAI 2023) in three steps:

1. ``budget.naive(spec, s)``: divide each stage's depth by ``s`` and widen it so the stage
   keeps its binary MACs (about ``sqrt(s)`` wider; activations fall about ``sqrt(s)``).
2. ``search.search_widths(model, spec, calibration)``: after a short pre-training of the
   naive network, cluster each stage's output channels with DBSCAN; the stage's new
   width is the number of clusters plus noise points (the distinct channels).
3. ``budget.match_budget(spec, reference)``: scale all widths by one factor, keeping the
   searched proportions, until a budget (binary MACs, OPs, latency or the ARM estimate)
   matches, with widths in multiples of ``divisor`` (default 32, what LCE packs in whole:
   see ``budget.LCE_DIVISOR``).

``reshape(...)`` runs the three with a pre-training in between. The pre-training and
what a named budget measures come in as functions (``pretrain``, ``measures``), so the
method needs nothing from ``training/`` or ``deploy/``: ``dwr_larq.reshaping.reshape``
passes the project's own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np

from dwr_larq.dwr.budget import LCE_DIVISOR, Budget, Measure, budget_function, match_budget, naive
from dwr_larq.dwr.search import check_search_settings, search_defaults, width_search
from dwr_larq.models.spec import BackboneSpec


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
                {"stage": r.stage, "layer": r.layer, "channels": r.channels, "clusters": r.clusters, "noise": r.noise,
                 "eps": r.eps}
                for r in self.stages
            ],
            "pretrain_history": self.history,
        }


def reshape(
    original: BackboneSpec,
    train_data,
    calibration_data,
    s: float = 2,
    pretrain_epochs: int = 3,
    eps: float | str | None = None,
    min_samples: int = 5,
    metric: str = "cosine",
    divisor: int = LCE_DIVISOR,
    budget: str = "binary_macs",
    tolerance: float = 0.05,
    batch_size: int = 64,
    learning_rate: float = 1e-3,
    verbose: int = 0,
    seed: int | None = 0,
    num_classes: int | None = None,
    *,
    pretrain: Callable,
    measures: Mapping[Budget, Measure] | None = None,
) -> DWRResult:
    """The whole method: naive reshaping, pre-training, width search, budget matching.

    ``pretrain(spec, train_data, epochs, batch_size, learning_rate, verbose=, seed=,
    num_classes=)`` returns ``(trained Keras model, history)``; ``measures`` maps the
    named ``budget`` to its measure (see ``budget.match_budget``).

    ``train_data``: a ``(images, labels)`` tuple of arrays or a batched
    ``tf.data.Dataset`` of (images, labels) with ``num_classes`` classes (default: the
    spec's); ``calibration_data``: images (an array or a dataset). Widths are multiples
    of ``divisor`` at every step; a budget that rounding cannot reach raises
    ``budget.BudgetMiss`` naming the miss. The final spec keeps the original's head and
    should then be trained from scratch.
    """
    eps = search_defaults(original.input_size).eps if eps is None else eps
    check_search_settings(eps, min_samples, metric)  # before pre-training, not after
    budget_function(budget, measures)  # a budget it cannot measure, too
    naive_spec = naive(original, s, divisor)
    model, history = pretrain(
        naive_spec, train_data, pretrain_epochs, batch_size, learning_rate, verbose=verbose, seed=seed,
        num_classes=num_classes,
    )
    searched, stages = width_search(model, naive_spec, calibration_data, eps, min_samples, metric)
    final = match_budget(searched, original, by=budget, tolerance=tolerance, divisor=divisor, measures=measures)
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
