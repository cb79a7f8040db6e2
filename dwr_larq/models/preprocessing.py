"""Input scaling and prediction decoding in keras.applications' style: ``preprocess_input`` and
``decode_predictions`` (ImageNet's classes by default, any weights' ``categories`` when given).

    >>> x = dwr_larq.preprocess_input(images_0_to_255)
    >>> dwr_larq.decode_predictions(model.predict(x), top=3)[0]
    [('n01440764', 'tench', 0.81), ('n01484850', 'great_white_shark', 0.05), ...]

The 1000 class names ship with the package (``imagenet_classes.tsv``, its header
says where they come from); nothing is fetched at run time. Label ``i`` is the
``i``-th WordNet id in sorted order, as in tensorflow-datasets' ``imagenet2012``
that ``dwr-larq train`` reads.
"""

from __future__ import annotations

import functools
from importlib import resources

import numpy as np

from dwr_larq.checks import positive_int

NUM_CLASSES = 1000
CLASSES_FILE = "imagenet_classes.tsv"


def scale_pixels(images):
    """Map pixel values in [0, 255] to [-1, 1] (works on NumPy arrays and tensors)."""
    return images / 127.5 - 1.0


def preprocess_input(x):
    """Pixels in [0, 255] to the [-1, 1] range every dwr-larq model (and its ``.tflite``) expects.

    The same scaling as the training pipelines (``scale_pixels``);
    NumPy arrays and tensors come back as float32, the input is not modified.
    """
    if isinstance(x, np.ndarray) or np.isscalar(x) or isinstance(x, (list, tuple)):
        return scale_pixels(np.asarray(x, dtype=np.float32))
    import tensorflow as tf

    return scale_pixels(tf.cast(x, tf.float32))


@functools.lru_cache(maxsize=1)
def _classes() -> tuple:
    text = resources.files("dwr_larq.models").joinpath(CLASSES_FILE).read_text(encoding="utf-8")
    rows = [line.split("\t", 1) for line in text.splitlines() if line and not line.startswith("#")]
    if len(rows) != NUM_CLASSES:
        raise RuntimeError(f"the packaged {CLASSES_FILE} has {len(rows)} classes instead of {NUM_CLASSES}")
    return tuple((wnid, lemmas) for wnid, lemmas in rows)


def wnids() -> list:
    """The 1000 WordNet ids in label order."""
    return [wnid for wnid, _ in _classes()]


def class_names() -> list:
    """A short name per label: the first WordNet lemma, spaces as underscores
    (``'great_white_shark'``, ``'African_elephant'``), as keras.applications and
    larq-zoo name them, so code written for their ``decode_predictions`` works here.

    Two names repeat (``crane`` the bird and the machine, ``maillot``); the WordNet
    id tells them apart.
    """
    return ["_".join(lemmas.split(",")[0].split()) for _, lemmas in _classes()]


def decode_predictions(preds, top: int = 5, categories=None) -> list:
    """The ``top`` classes of each prediction: a list per image of ``(id, name, score)``, best first.

    ``preds`` is a batch of scores, shape ``(samples, classes)``. Without ``categories``
    they are ImageNet's 1000 and ``id`` is the WordNet id, as in keras.applications; with
    ``categories`` (class names in label order, e.g. ``zoo.pretrained(...).categories``)
    ``id`` is the label index.
    """
    names = class_names() if categories is None else [str(name) for name in categories]
    ids = wnids() if categories is None else list(range(len(names)))
    scores = np.asarray(preds)
    if scores.ndim != 2 or scores.shape[1] != len(names):
        what = "ImageNet predictions" if categories is None else f"predictions over the {len(names)} categories"
        raise ValueError(f"decode_predictions expects a batch of {what} of shape (samples, {len(names)}), "
                         f"got shape {scores.shape}")
    top = positive_int(top, "top", 1, len(names))
    best = np.argsort(-scores, axis=1, kind="stable")[:, :top]
    return [[(ids[i], names[i], float(row[i])) for i in order] for row, order in zip(scores, best)]
