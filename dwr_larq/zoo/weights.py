"""Resolving and loading the ``weights=`` argument of zoo functions.

``None`` builds a randomly initialised model; a tag the card lists (``"imagenet"``,
``"cifar10"``, ...) loads its published file (with or without top: shipped in the
package, or downloaded and verified by ``dwr_larq.zoo.cache``); any other value must
be a weights file. Everything that can be wrong is reported before the model is
built, and a weights file is compared layer by layer with the model before anything
is loaded, so a file for another architecture names the first layer that does not fit.
"""

from __future__ import annotations

import contextlib
import os
import zipfile
from dataclasses import dataclass
from importlib import resources

from dwr_larq.zoo import cache
from dwr_larq.zoo.cards import DATASET_CLASSES, ModelCard, Variant, WeightsEntry

# The classifier: the one top layer whose shape follows the number of classes.
LOGITS = "logits"
# The tensorflow-datasets name that trains a dataset tag's weights.
TRAINING_DATASETS = {"imagenet": "imagenet2012 --data-dir DIR", "cifar10": "cifar10 --data-dir DIR"}


def is_top_layer(name: str) -> bool:
    """A layer with weights that ``builder.head`` adds and include_top=False leaves out."""
    return name == LOGITS or name.startswith("head_")


@dataclass(frozen=True)
class Published:
    """A published file chosen for a tag: ``variant`` is ``"top"`` or ``"no_top"``."""

    tag: str
    variant: str
    file: Variant


@dataclass(frozen=True)
class Resolved:
    """What ``resolve`` decided: the weights to load (None, a ``Published`` file or a
    path), the classes of the top, and the input shape to build with (None: the builder's default)."""

    source: object
    num_classes: int
    input_shape: tuple | None


def _train_command(card: ModelCard, tag: str) -> str:
    dataset = TRAINING_DATASETS.get(tag, tag)
    run = f"runs/{card.name}-{tag}"
    return (
        f"`dwr-larq train {card.name} --dataset {dataset} --epochs N --batch-size B --out {run}`, then "
        f"`dwr-larq export-weights {run} --name {card.name} --tag {tag} --out DIR`"
    )


def _listed(card: ModelCard) -> str:
    return ", ".join(repr(tag) for tag in card.weights) or "none yet"


def _check_shape(card: ModelCard, entry: WeightsEntry, shape, include_top: bool) -> tuple:
    """The input shape to build with for a tag's weights, or ``ValueError`` naming what they cannot serve.

    Channels must be the ones the weights were trained on. With the top, height and
    width must be the trained ``input_size`` (keras.applications' rule: a classifier is
    only as good as at the size it learned); without it any size works, None included.
    """
    what = f"{card.name}'s {entry.tag!r} weights"
    side = entry.input_size if include_top else None
    if shape is None:
        return (side, side, entry.channels)
    shape = tuple(shape)
    if len(shape) != 3:
        return shape  # the builder says what is wrong with it
    height, width, channels = shape
    if channels is not None and channels != entry.channels:
        raise ValueError(
            f"input shape {shape} has {channels} channel(s) but {what} were trained on {entry.channels}-channel "
            f"images; pass input_shape=({height}, {width}, {entry.channels})"
        )
    if include_top and (height, width) != (entry.input_size, entry.input_size):
        raise ValueError(
            f"input shape {shape}: with include_top=True, {what} need {entry.input_size}x{entry.input_size} images, "
            f"the size they were trained at; pass include_top=False to use the backbone at another size"
        )
    return shape


def resolve(card: ModelCard, weights, include_top: bool, num_classes: int | None, input_shape=None) -> Resolved:
    """Check ``weights`` (and with a tag, ``num_classes`` and ``input_shape``) against the card.

    ``num_classes=None`` means the card's classes, or with a tag and ``include_top``,
    those of its top. ``input_shape`` is the model's (of ``input_tensor`` if one is
    given); a tag's weights serve only their channel count, and with the top only their
    trained image size (``_check_shape``); None becomes the shape they serve.
    """
    default_classes = card.num_classes if num_classes is None else num_classes
    if weights is None:
        return Resolved(None, default_classes, input_shape)
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
            return Resolved(weights, default_classes, input_shape)
        raise ValueError(
            f"weights={weights!r} is neither a dataset tag listed on the {card.name} card ({_listed(card)}) "
            "nor an existing file"
        )
    if include_top:
        if entry.top is None:
            raise ValueError(
                f"only no-top {weights!r} weights are published for {card.name}; pass include_top=False"
            )
        if num_classes is not None and num_classes != entry.num_classes:
            raise ValueError(
                f"{card.name}'s {weights!r} weights have a top for {entry.num_classes} classes, so "
                f"include_top=True needs num_classes={entry.num_classes} (got {num_classes}); pass "
                "include_top=False to put your own head on the pretrained backbone"
            )
        num_classes = entry.num_classes
    shape = _check_shape(card, entry, input_shape, include_top)
    # Without top, a top file loads by name with its head left out.
    variant = "top" if include_top or entry.no_top is None else "no_top"
    source = Published(weights, variant, getattr(entry, variant))
    return Resolved(source, card.num_classes if num_classes is None else num_classes, shape)


def _describe(card: ModelCard, source: Published) -> str:
    return f"{card.name}'s {source.tag!r} weights {'with' if source.variant == 'top' else 'without'} top"


@contextlib.contextmanager
def _shipped(card: ModelCard, source: Published):
    """The verified local path of a file shipped in the package: never downloaded."""
    what, file = _describe(card, source), source.file
    item = card.shipped_file(file)
    if not item.is_file():
        raise ValueError(f"{what} ({file.file}) should ship with the package but {item} is missing; reinstall dwr-larq")
    with resources.as_file(item) as path:
        found = cache.sha256(path)
        if found != file.sha256:
            raise ValueError(
                f"{what}: the shipped file {item} has sha256 {found}, not {file.sha256} as the card says "
                "(a damaged install, or a card edited without its hash)"
            )
        yield str(path)


@contextlib.contextmanager
def local_file(card: ModelCard, source):
    """The local path of a resolved source (for the ``with`` body): a path as given, the
    verified file shipped in the package, or the verified cached download."""
    if source is None or isinstance(source, str):
        yield source
    elif source.file.shipped:
        with _shipped(card, source) as path:
            yield path
    else:
        yield str(cache.fetch(source.file.file, source.file.sha256, card.weights_url, _describe(card, source)))


def load(model, card: ModelCard, source) -> None:
    """Load a source returned by ``resolve`` into ``model``, built from ``card``."""
    with local_file(card, source) as path:
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


HDF5_SUFFIXES = (".h5", ".hdf5")


def _unreadable(path, reason: str) -> ValueError:
    return ValueError(f"weights file {path!r} {reason}; download or save it again")


def _open_hdf5(path):
    """``h5py.File`` for reading, or ``ValueError`` naming the file: a truncated download
    otherwise surfaces as h5py's raw ``OSError``."""
    import h5py

    if not h5py.is_hdf5(path):
        raise _unreadable(path, "is not an HDF5 file (an interrupted download or a file of another kind?)")
    try:
        return h5py.File(path, "r")
    except OSError as error:
        raise _unreadable(path, f"is a damaged HDF5 file, truncated or corrupted ({error})") from None


def hdf5_layers(path) -> dict:
    """Layer name -> weight shapes of a Keras HDF5 weights file (``save_weights(... .h5)``)."""
    with _open_hdf5(path) as handle:
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
            if is_top_layer(name):
                raise ValueError(
                    f"{what} holds no top (no layer {name!r}): it has no-top weights; build the model with "
                    "include_top=False, or use weights with the top"
                )
            raise ValueError(
                f"{what} does not fit {model.name}: it has no layer {name!r} "
                "(weights for another architecture?)"
            )
        if stored[name] != shapes:
            if name == LOGITS and stored[name][0][:-1] == shapes[0][:-1]:
                raise ValueError(
                    f"{what} has a top for {stored[name][0][-1]} classes but the model has {shapes[0][-1]}: "
                    f"pass num_classes={stored[name][0][-1]}, or include_top=False for the backbone only"
                )
            raise ValueError(
                f"{what} does not fit {model.name}: layer {name!r} has weights of shape {_shapes(stored[name])} "
                f"there but {_shapes(shapes)} in the model (weights for another architecture?)"
            )
    extra = [name for name in stored if name not in expected and not is_top_layer(name)]
    if extra:
        raise ValueError(
            f"{what} does not fit {model.name}: it has layer(s) {extra[:3]} that the model lacks "
            "(weights for another architecture?)"
        )


def load_file(model, path) -> None:
    """Load a weights file into ``model``: HDF5 files are checked layer by layer and
    loaded by name (a file with a top also loads into a model without one); other
    formats (TensorFlow checkpoints, ``.keras``) load through Keras, errors reworded.
    A damaged file (a truncated download) is named as such, not as another architecture."""
    import h5py

    path = os.fspath(path)
    if os.path.isfile(path) and (h5py.is_hdf5(path) or path.lower().endswith(HDF5_SUFFIXES)):
        compare_layers(model, hdf5_layers(path), path)
        try:
            model.load_weights(path, by_name=True)
        except OSError as error:  # damaged past the layer index that compare_layers read
            raise _unreadable(path, f"is a damaged HDF5 file, truncated or corrupted ({error})") from None
        return
    if os.path.isfile(path) and path.lower().endswith(".keras") and not zipfile.is_zipfile(path):
        raise _unreadable(path, "is not a complete .keras file (not a zip archive: truncated or corrupted?)")
    try:
        status = model.load_weights(path)
        if status is not None and hasattr(status, "assert_existing_objects_matched"):
            status.assert_existing_objects_matched()
            status.expect_partial()  # a checkpoint with a top, loaded without it: nothing to warn about
    except (ValueError, AssertionError, OSError, KeyError) as error:
        raise ValueError(f"cannot load weights {path!r} into {model.name} (weights for another architecture?): {error}") from None
