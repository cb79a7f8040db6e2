"""Pretrained weights with their meta, as torchvision's ``Weights`` and timm's pretrained
configs carry theirs: what the labels mean, what input the weights expect and how to make
it from raw images, how well they score, and how they were made.

    >>> from dwr_larq import zoo
    >>> zoo.list_pretrained("ResNet20*")             # ['ResNet20.fashion_mnist', ...]
    >>> weights = zoo.pretrained("ResNet20", "fashion_mnist")
    >>> model = weights.build()
    >>> scores = model.predict(weights.preprocess(raw_uint8_images))
    >>> weights.decode_predictions(scores, top=3)[0]    # [(0, 'T-shirt/top', 0.93), ...]

Listing and reading entries needs no TensorFlow; ``preprocess`` and ``build`` load it.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

from dwr_larq.models import categories as categories_lib
from dwr_larq.zoo.cards import WeightsEntry
from dwr_larq.zoo.registry import get_card, get_model, list_models

# The figures of a weights entry's "trained" provenance that are its metrics.
METRICS = ("accuracy_keras", "accuracy_tflite", "test_images")
PREPROCESS_BATCH = 1000


@dataclass(frozen=True)
class Pretrained:
    """One weights tag of one zoo model and everything a user needs to use it."""

    model: str
    tag: str
    dataset: str
    categories: tuple
    input_shape: tuple  # (height, width, channels) the weights were trained and evaluated at
    metrics: dict = field(hash=False)  # top-1 in Keras and in LCE's interpreter, and on how many test images
    recipe: str | None = None
    command: str | None = None  # the command that trained them
    trained: dict = field(default_factory=dict, hash=False, repr=False)  # the card's whole provenance

    @property
    def name(self) -> str:
        return f"{self.model}.{self.tag}"

    @classmethod
    def from_entry(cls, model: str, entry: WeightsEntry) -> Pretrained:
        trained = entry.trained
        dataset = trained.get("dataset", entry.tag)
        names = categories_lib.categories(dataset)
        if len(names) != entry.num_classes:
            raise ValueError(f"{model}.{entry.tag}: {dataset} has {len(names)} classes but the weights' top has "
                             f"{entry.num_classes}")
        return cls(model, entry.tag, dataset, names, (entry.input_size, entry.input_size, entry.channels),
                   {key: trained[key] for key in METRICS if key in trained}, trained.get("recipe"),
                   trained.get("command"), dict(trained))

    def preprocess(self, images):
        """Raw images as the dataset stores them (uint8, ``(N, H, W)`` or ``(N, H, W, C)``,
        any N) to exactly the float32 input these weights were evaluated on: the same
        pipeline (resized bilinearly to the trained side, converted to the trained channels,
        scaled to [-1, 1]; ImageNet-sized weights get its resize-and-centre-crop)."""
        from dwr_larq.training import data

        size, _, channels = self.input_shape
        source = data.array_source(images, policy=data.policy_for_size(size))
        pipe = data.pipeline(source, "test", batch_size=PREPROCESS_BATCH, image_size=size, channels=channels,
                             training=False)
        return data.as_arrays(pipe)[0]

    def decode_predictions(self, preds, top: int = 5) -> list:
        """``(label, class name, score)`` of the ``top`` classes of each prediction, best first."""
        from dwr_larq.models.preprocessing import decode_predictions

        return decode_predictions(preds, top=top, categories=self.categories)

    def build(self, include_top: bool = True, **kwargs):
        """The model with these weights loaded (keyword arguments as for any zoo function)."""
        return get_model(self.model, weights=self.tag, include_top=include_top, **kwargs)


def _entries():
    for model in list_models():
        for tag, entry in get_card(model).weights.items():
            yield model, tag, entry


def list_pretrained(pattern: str | None = None) -> list:
    """``"Model.tag"`` for every weights entry of the zoo's cards (shipped in the package
    or published for download), optionally filtered by a shell-style ``pattern``."""
    names = [f"{model}.{tag}" for model, tag, _ in _entries()]
    return names if pattern is None else [name for name in names if fnmatch.fnmatchcase(name, pattern)]


def pretrained(name: str, tag: str | None = None) -> Pretrained:
    """The weights entry ``name`` (a zoo model) publishes under ``tag``; ``name`` may also
    be ``"Model.tag"`` as ``list_pretrained`` gives it."""
    if tag is None:
        if "." not in name:
            raise ValueError(f"pretrained({name!r}) needs a tag: pretrained('Model', 'tag') or 'Model.tag'")
        name, tag = name.split(".", 1)
    card = get_card(name)
    if tag not in card.weights:
        listed = ", ".join(sorted(card.weights)) or "none"
        raise ValueError(f"{name} has no weights tagged {tag!r}; its tags: {listed}")
    return Pretrained.from_entry(card.name, card.weights[tag])
