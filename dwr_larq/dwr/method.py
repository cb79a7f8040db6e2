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

``reshape(...)`` runs the three with a Keras ``fit`` pre-training in between.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dwr_larq.dwr.budget import LCE_DIVISOR, match_budget, naive
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
    """Short pre-training of a spec (Adam, cross-entropy), one phase of the project's
    training loop: the network the width search reads.

    ``train_data``: ``(images, labels)`` arrays (shuffled and batched here) or a batched
    ``tf.data.Dataset``. ``seed`` fixes initialisation and shuffling so a DWR run can be
    repeated; ``num_classes`` (default: the spec's) is the pre-training data's class count.
    """
    import tensorflow as tf

    from dwr_larq.models.builder import build
    from dwr_larq.training.data import Pipeline
    from dwr_larq.training.loop import Phase, accuracy_metric, fit_phases

    if seed is not None:
        tf.keras.utils.set_random_seed(seed)
    if isinstance(train_data, tuple):
        images, labels = train_data
        dataset = tf.data.Dataset.from_tensor_slices((images, labels)).shuffle(len(images), seed=seed)
        pipeline = Pipeline(dataset.batch(batch_size), len(images), num_classes or spec.head.num_classes, images.shape[1], batch_size)
        shape = images.shape[1:]
    else:
        batches = int(tf.data.experimental.cardinality(train_data))
        pipeline = Pipeline(train_data, max(batches, 1) * batch_size, num_classes or spec.head.num_classes, None, batch_size)
        shape = tuple(train_data.element_spec[0].shape[1:])
    size = input_size or shape[0] or spec.input_size
    model = build(spec, input_shape=(size, size, shape[-1] or 3), num_classes=num_classes)

    def prepare(previous, updates):
        model.compile(tf.keras.optimizers.Adam(learning_rate), "sparse_categorical_crossentropy", [accuracy_metric()])
        return model

    (phase,) = fit_phases([Phase("pretrain", epochs, prepare)], pipeline, verbose=verbose)
    return model, phase["history"]


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
) -> DWRResult:
    """The whole method: naive reshaping, pre-training, width search, budget matching.

    ``train_data``: a ``(images, labels)`` tuple of arrays or a batched
    ``tf.data.Dataset`` of (images, labels) with ``num_classes`` classes (default: the
    spec's); ``calibration_data``: images (an array or a dataset). Widths are multiples
    of ``divisor`` at every step; a budget that rounding cannot reach raises
    ``budget.BudgetMiss`` naming the miss. The final spec keeps the original's head and
    should then be trained from scratch.
    """
    eps = search_defaults(original.input_size).eps if eps is None else eps
    check_search_settings(eps, min_samples, metric)  # before pre-training, not after
    naive_spec = naive(original, s, divisor)
    model, history = pretrain(
        naive_spec, train_data, pretrain_epochs, batch_size, learning_rate, verbose=verbose, seed=seed,
        num_classes=num_classes,
    )
    searched, stages = width_search(model, naive_spec, calibration_data, eps, min_samples, metric)
    final = match_budget(searched, original, by=budget, tolerance=tolerance, divisor=divisor)
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
