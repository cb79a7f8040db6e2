"""Resolving the ``weights=`` argument of zoo functions.

``None`` builds a randomly initialised model, a path loads a Keras weights file, and
a dataset tag (``"imagenet"``, ``"cifar10"``) asks for published weights listed on
the model's card.
"""

from __future__ import annotations

import os

from dwr_larq.cards import DATASET_CLASSES, ModelCard


def check_weights_argument(card: ModelCard, weights, include_top: bool, num_classes: int) -> None:
    """Reject ``weights`` values that cannot work, before anything is built."""
    if weights is None:
        return
    if not isinstance(weights, (str, os.PathLike)):
        raise ValueError(f"weights must be None, a dataset tag {sorted(DATASET_CLASSES)} or a file path, got {weights!r}")
    weights = os.fspath(weights)
    if weights in DATASET_CLASSES:
        expected = DATASET_CLASSES[weights]
        if include_top and num_classes != expected:
            raise ValueError(
                f"weights={weights!r} with include_top=True needs num_classes={expected}, got {num_classes}; "
                "pass include_top=False to put your own head on the pretrained backbone"
            )
        return
    if not os.path.exists(weights):
        raise ValueError(
            f"weights={weights!r} is neither a dataset tag {sorted(DATASET_CLASSES)} nor an existing file"
        )


def load_weights(model, card: ModelCard, weights) -> None:
    """Load ``weights`` (already checked) into ``model``."""
    if weights is None:
        return
    weights = os.fspath(weights)
    if weights in DATASET_CLASSES:
        entry = card.weights.get(weights)
        if not entry:
            raise ValueError(
                f"no pretrained {weights!r} weights are published for {card.name} yet; "
                f"train them with `dwr-larq train {card.name}` or pass weights=<path to a weights file>"
            )
        raise NotImplementedError(f"downloading published weights for {card.name} is not implemented yet")
    model.load_weights(weights)
