"""Resolving and loading the ``weights=`` argument of zoo functions.

``None`` builds a randomly initialised model; a tag the card lists (``"imagenet"``,
``"cifar10"``, ...) loads its published file (with or without top, downloaded and
verified by ``dwr_larq.zoo.cache``); any other value must be a weights file.
Everything that can be wrong is reported before the model is built, and a weights
file is compared layer by layer with the model before anything is loaded, so a file
for another architecture names the first layer that does not fit.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from dwr_larq.zoo import cache
from dwr_larq.zoo.cards import DATASET_CLASSES, ModelCard

# Layers with weights that builder.head adds and include_top=False leaves out.
TOP_LAYERS = ("logits",)
# The tensorflow-datasets name that trains a dataset tag's weights.
TRAINING_DATASETS = {"imagenet": "imagenet2012 --data-dir DIR", "cifar10": "cifar10 --data-dir DIR"}


@dataclass(frozen=True)
class Published:
    """A published file chosen for a tag and variant (``top`` or ``no_top``)."""

    tag: str
    variant: str
    file: str
    sha256: str


def _train_command(card: ModelCard, tag: str) -> str:
    dataset = TRAINING_DATASETS.get(tag, tag)
    run = f"runs/{card.name}-{tag}"
    return (
        f"`dwr-larq train {card.name} --dataset {dataset} --epochs N --batch-size B --out {run}`, then "
        f"`dwr-larq export-weights {run} --name {card.name} --tag {tag} --out DIR`"
    )


def _listed(card: ModelCard) -> str:
    return ", ".join(repr(tag) for tag in card.weights) or "none yet"


def resolve(card: ModelCard, weights, include_top: bool, num_classes: int | None):
    """Check ``weights`` against the card; return ``(source, num_classes)``.

    ``source`` is None, a ``Published`` entry or a file path. ``num_classes=None``
    means the card's classes, or with a tag and ``include_top``, those of its top.
    """
    if weights is None:
        return None, card.num_classes if num_classes is None else num_classes
    if not isinstance(weights, (str, os.PathLike)):
        raise ValueError(f"weights must be None, a weights tag or a file path, got {weights!r}")
    weights = os.fspath(weights)
    entry = card.weights.get(weights)
    if entry is None and weights in DATASET_CLASSES:
        expected = DATASET_CLASSES[weights]
        if include_top and num_classes is not None and num_classes != expected:
            raise ValueError(
                f"weights={weights!r} with include_top=True needs num_classes={expected}, got {num_classes}; "
                "pass include_top=False to put your own head on the pretrained backbone"
            )
        raise ValueError(
            f"no pretrained {weights!r} weights are published for {card.name} yet; train them with "
            f"{_train_command(card, weights)}, or pass weights=<path to a weights file>"
        )
    if entry is None:
        if os.path.exists(weights) or os.path.exists(weights + ".index"):  # a file, or a TF checkpoint prefix
            return weights, card.num_classes if num_classes is None else num_classes
        raise ValueError(
            f"weights={weights!r} is neither a dataset tag listed on the {card.name} card ({_listed(card)}) "
            "nor an existing file"
        )
    if include_top:
        if "top" not in entry:
            raise ValueError(
                f"only no-top {weights!r} weights are published for {card.name}; pass include_top=False"
            )
        if num_classes is not None and num_classes != entry["num_classes"]:
            raise ValueError(
                f"{card.name}'s {weights!r} weights have a top for {entry['num_classes']} classes, so "
                f"include_top=True needs num_classes={entry['num_classes']} (got {num_classes}); pass "
                "include_top=False to put your own head on the pretrained backbone"
            )
        num_classes = entry["num_classes"]
    if include_top or "no_top" not in entry:
        variant = "top"  # without top, a top file loads by name with its head left out
    else:
        variant = "no_top"
    item = entry[variant]
    return Published(weights, variant, item["file"], item["sha256"]), (
        card.num_classes if num_classes is None else num_classes
    )


def local_file(card: ModelCard, source) -> str | None:
    """The local path of a resolved source: a path as given, or the verified cached download."""
    if source is None or isinstance(source, str):
        return source
    what = f"{card.name}'s {source.tag!r} weights {'with' if source.variant == 'top' else 'without'} top"
    return str(cache.fetch(source.file, source.sha256, card.weights_url, what))


def load(model, card: ModelCard, source) -> None:
    """Load a source returned by ``resolve`` into ``model``, built from ``card``."""
    path = local_file(card, source)
    if path is not None:
        load_file(model, path)


# --- files ------------------------------------------------------------------------------


def model_layers(model) -> dict:
    """Layer name -> weight shapes, in the order Keras' HDF5 format stores them."""
    return {
        layer.name: [tuple(w.shape) for w in layer.trainable_weights + layer.non_trainable_weights]
        for layer in model.layers
        if layer.weights
    }


def hdf5_layers(path) -> dict:
    """Layer name -> weight shapes of a Keras HDF5 weights file (``save_weights(... .h5)``)."""
    import h5py

    with h5py.File(path, "r") as handle:
        group = handle["model_weights"] if "model_weights" in handle else handle
        if "layer_names" not in group.attrs:
            raise ValueError(f"{path} is an HDF5 file but not Keras weights (no layer_names)")
        layers = {}
        for raw in group.attrs["layer_names"]:
            name = raw.decode() if isinstance(raw, bytes) else str(raw)
            names = group[name].attrs.get("weight_names", [])
            if len(names):
                layers[name] = [tuple(group[name][n.decode() if isinstance(n, bytes) else n].shape) for n in names]
        return layers


def _shapes(shapes) -> str:
    return ", ".join(str(tuple(int(d) for d in s)) for s in shapes)


def compare_layers(model, stored: dict, what) -> None:
    """Raise ``ValueError`` naming the first layer of ``model`` that the weights in
    ``stored`` (layer name -> shapes, read from ``what``) do not fit."""
    expected = model_layers(model)
    for name, shapes in expected.items():
        if name not in stored:
            if name in TOP_LAYERS:
                raise ValueError(
                    f"{what} holds no top (no layer {name!r}): it has no-top weights; build the model with "
                    "include_top=False, or use weights with the top"
                )
            raise ValueError(
                f"{what} does not fit {model.name}: it has no layer {name!r} "
                "(weights for another architecture?)"
            )
        if stored[name] != shapes:
            if name in TOP_LAYERS and stored[name][0][:-1] == shapes[0][:-1]:
                raise ValueError(
                    f"{what} has a top for {stored[name][0][-1]} classes but the model has {shapes[0][-1]}: "
                    f"pass num_classes={stored[name][0][-1]}, or include_top=False for the backbone only"
                )
            raise ValueError(
                f"{what} does not fit {model.name}: layer {name!r} has weights of shape {_shapes(stored[name])} "
                f"there but {_shapes(shapes)} in the model (weights for another architecture?)"
            )
    extra = [name for name in stored if name not in expected and name not in TOP_LAYERS]
    if extra:
        raise ValueError(
            f"{what} does not fit {model.name}: it has layer(s) {extra[:3]} that the model lacks "
            "(weights for another architecture?)"
        )


def load_file(model, path) -> None:
    """Load a weights file into ``model``: HDF5 files are checked layer by layer and
    loaded by name (a file with a top also loads into a model without one); other
    formats (TensorFlow checkpoints, ``.keras``) load through Keras, errors reworded."""
    import h5py

    path = os.fspath(path)
    if os.path.isfile(path) and h5py.is_hdf5(path):
        compare_layers(model, hdf5_layers(path), path)
        model.load_weights(path, by_name=True)
        return
    try:
        status = model.load_weights(path)
        if status is not None and hasattr(status, "assert_existing_objects_matched"):
            status.assert_existing_objects_matched()
            status.expect_partial()  # a checkpoint with a top, loaded without it: nothing to warn about
    except (ValueError, AssertionError, OSError, KeyError) as error:
        raise ValueError(f"cannot load weights {path!r} into {model.name} (weights for another architecture?): {error}") from None
