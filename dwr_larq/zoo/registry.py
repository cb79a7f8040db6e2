"""The registry behind ``dwr_larq.zoo``: one generated function per shipped card, lookup
by name or pattern. Adding a model means adding a card; no code changes."""

from __future__ import annotations

import difflib
import fnmatch
import os

from dwr_larq.zoo import weights as weights_lib
from dwr_larq.zoo.cards import ModelCard, read_card, shipped_cards

_CARDS = shipped_cards()

_DOC = """Instantiates {name}: {description}

Source: {reference}.
Spec: {block} blocks, depths {depths}, widths {widths}; default input {size}x{size}x3,
{classes} classes ({dataset}).

Args:
    input_shape: optional (height, width, channels); height and width may be None.
        Default: {size}x{size}x3 with the top, any size without it (None, None, 3);
        a weights tag's trained size and channels instead of {size} and 3.
    input_tensor: optional Keras tensor to use as the model's input.
    weights: None (random init), a dataset tag listed on the card, or a weights file path.
        A tag's weights need the channels they were trained on and, with the top, the
        image size too (keras.applications' rule); without the top any size works.
    include_top: whether to include the pooling and dense classifier.
    num_classes: classes of the classifier (only with include_top=True); None means the
        card's, or with a weights tag, those of its top.
    pooling: with include_top=False, None (4-D feature map), "avg" or "max".
    classifier_activation: activation of the top layer (None returns logits).

Returns:
    A `tf.keras.Model`.
"""


def build_from_card(
    card: ModelCard,
    *,
    input_shape=None,
    input_tensor=None,
    weights=None,
    include_top: bool = True,
    num_classes: int | None = None,
    pooling: str | None = None,
    classifier_activation="softmax",
):
    """Build the model a card describes, check and load its weights."""
    from dwr_larq.models import builder

    given = input_shape if input_tensor is None else tuple(input_tensor.shape[1:])
    resolved = weights_lib.resolve(card, weights, include_top, num_classes, given)
    model = builder.build(
        card.spec,
        input_shape=resolved.input_shape if input_tensor is None else None,
        input_tensor=input_tensor,
        include_top=include_top,
        num_classes=resolved.num_classes,
        pooling=pooling,
        classifier_activation=classifier_activation,
        name=card.name,
    )
    weights_lib.load(model, card, resolved.source)
    return model


def _model_function(card: ModelCard):
    def model_function(
        *,
        input_shape=None,
        input_tensor=None,
        weights=None,
        include_top=True,
        num_classes=None,
        pooling=None,
        classifier_activation="softmax",
    ):
        return build_from_card(
            card,
            input_shape=input_shape,
            input_tensor=input_tensor,
            weights=weights,
            include_top=include_top,
            num_classes=num_classes,
            pooling=pooling,
            classifier_activation=classifier_activation,
        )

    spec = card.spec
    model_function.__name__ = model_function.__qualname__ = card.name
    model_function.__module__ = "dwr_larq.zoo"
    model_function.__doc__ = _DOC.format(
        name=card.name,
        description=card.description,
        reference=card.source.get("reference", "unknown"),
        block=spec.block,
        depths=list(spec.depths),
        widths=list(spec.widths),
        size=spec.input_size,
        classes=card.num_classes,
        dataset=card.dataset,
    )
    return model_function


FUNCTIONS = {name: _model_function(card) for name, card in _CARDS.items()}

__all__ = ["list_models", "get_model", "get_card", "build_from_card", *FUNCTIONS]


def list_models(pattern: str | None = None) -> list:
    """Names of the zoo models, optionally filtered by a shell pattern such as ``"*DWR"``."""
    names = list(_CARDS)
    return [n for n in names if pattern is None or fnmatch.fnmatchcase(n, pattern)]


def _unknown_name(name: str) -> ValueError:
    close = difflib.get_close_matches(name, list(_CARDS), n=3, cutoff=0.4)
    hint = f"did you mean {', '.join(close)}?" if close else f"known models: {', '.join(_CARDS)}"
    return ValueError(f"unknown model {name!r}; {hint} (a path to a card .json file also works)")


def get_card(name_or_path: str) -> ModelCard:
    """The card of a zoo model, or of a card file on disk (e.g. written by DWR reshaping)."""
    if name_or_path in _CARDS:
        return _CARDS[name_or_path]
    if str(name_or_path).endswith(".json") and os.path.isfile(name_or_path):
        return read_card(name_or_path)
    raise _unknown_name(str(name_or_path))


def get_model(name: str, **kwargs):
    """Build a zoo model by name (or from a card file) with the zoo functions' keyword arguments."""
    return build_from_card(get_card(name), **kwargs)
