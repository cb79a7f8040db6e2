"""Zoo cards: one JSON file per model in the top-level ``zoo/`` folder.

A card says what a model is (its spec), where it came from (a paper's table, or
DWR applied to another backbone with given settings), which pretrained weights are
published for it, and figures measured with this library. The package ships the
folder as ``dwr_larq.zoo_cards``.

Published weights are listed by tag (a dataset name such as ``imagenet`` or
``cifar10``, or any other name a run was trained on) under ``"weights"``, and read
into ``WeightsEntry`` objects here, the one place that parses and checks them::

    "weights_url": "https://<host>/<folder holding the files>",
    "weights": {
        "cifar10": {
            "num_classes": 10,        # classes of the top (the classifier)
            "input_size": 32,         # side the weights were trained at
            "channels": 3,            # image channels they were trained on (default 3)
            "top": {"file": "ResNet20DWR-cifar10-0123abcd.h5", "sha256": "<64 hex digits>"},
            "no_top": {"file": "weights/resnet20dwr_cifar10_notop.h5", "sha256": "<64 hex digits>"},
            "trained": {...}          # optional provenance, see TRAINED_FIELDS
        }
    }

A file is either a plain name, downloaded from the card's ``"weights_url"`` (a base
URL that the environment variable ``DWR_LARQ_WEIGHTS_URL`` overrides, for mirrors and
air-gapped machines) into a cache, or ``weights/<name>.h5``: a file small enough to
ship inside the package, beside the cards, read offline. An entry needs at least one
of ``top`` / ``no_top``; ``dwr-larq export-weights`` writes entries from finished
training runs.
"""

from __future__ import annotations

import json
import numbers
import re
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import resources
from pathlib import Path

from dwr_larq.checks import member
from dwr_larq.models.spec import BackboneSpec

CARDS_PACKAGE = "dwr_larq.zoo_cards"
# Datasets a card can name, with the class count their weights and heads have.
DATASET_CLASSES = {"imagenet": 1000, "cifar10": 10}
WEIGHTS_VARIANTS = ("top", "no_top")
WEIGHTS_TAG = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
PLAIN_FILE = re.compile(r"^[^./\\][^/\\]*$")
SHIPPED_FILE = re.compile(r"^weights/[^./\\][^/\\]*\.h5$")  # setup.py ships zoo/weights/*.h5
ENTRY_FIELDS = {"num_classes", "input_size", "channels", *WEIGHTS_VARIANTS, "trained"}
# Provenance an entry's "trained" object may record, with the type each must have;
# other keys are kept as written. Accuracies are fractions (0.91, not 91).
TRAINED_FIELDS = {
    "dataset": str,             # what the weights were trained on
    "train_images": int,        # split sizes
    "validation_images": int,
    "test_images": int,
    "input_size": int,          # image side and channels at training
    "channels": int,
    "recipe": str,
    "epochs": int,
    "batch_size": int,
    "seed": int,
    "command": str,             # the command that trained them
    "accuracy_keras": float,    # top-1 on the test images, Keras model
    "accuracy_tflite": float,   # the same, LCE-converted .tflite
}


class SourceKind(StrEnum):
    """Where a card's model came from (its ``source.kind``)."""

    PAPER = "paper"  # a published configuration
    DWR = "dwr"  # ``dwr-larq reshape``: DWR with the width search
    DWR_LCE = "dwr-lce"  # scripts/lce_cards.py: reshaped and tuned to LCE's kernels
    STUDY = "study"  # scripts/dwr_study.py's variants
    TEACHER = "teacher"  # a full-precision teacher to distil from (experiments/), not a zoo model
    EQUAL_COST = "equal-cost"  # scripts/equal_cost_cards.py: a card's layout at another card's ARM estimate


def _is_int(value, minimum: int) -> bool:
    """True for an integer (not a bool) >= ``minimum``."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= minimum


@dataclass(frozen=True)
class Variant:
    """One weights file (with or without top) and its sha256.

    ``file`` is a plain name, downloaded from the card's weights URL, or
    ``weights/<name>.h5``, shipped in the package beside the cards (``shipped``).
    """

    file: str
    sha256: str

    @property
    def shipped(self) -> bool:
        return "/" in self.file

    @classmethod
    def from_dict(cls, data, where: str) -> Variant:
        if not isinstance(data, dict) or set(data) != {"file", "sha256"}:
            raise ValueError(f"{where} must be {{\"file\": ..., \"sha256\": ...}}, got {data!r}")
        name, digest = data["file"], data["sha256"]
        if not isinstance(name, str) or not (PLAIN_FILE.match(name) or SHIPPED_FILE.match(name)):
            raise ValueError(
                f"{where}: 'file' must be a plain file name (served from weights_url) or weights/<name>.h5 "
                f"(shipped with the package), got {name!r}"
            )
        if not isinstance(digest, str) or not SHA256.match(digest):
            raise ValueError(f"{where}: 'sha256' must be 64 lower-case hex digits, got {digest!r}")
        return cls(name, digest)

    def to_dict(self) -> dict:
        return {"file": self.file, "sha256": self.sha256}


def _check_trained(trained, where: str) -> dict:
    if not isinstance(trained, dict):
        raise ValueError(f"{where}: 'trained' must be an object, got {trained!r}")
    for key, kind in TRAINED_FIELDS.items():
        value = trained.get(key)
        if value is None:
            continue
        if kind is int and not _is_int(value, 0):
            raise ValueError(f"{where}: 'trained.{key}' must be an integer >= 0, got {value!r}")
        if kind is str and not isinstance(value, str):
            raise ValueError(f"{where}: 'trained.{key}' must be a string, got {value!r}")
        if kind is float and (isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1):
            raise ValueError(f"{where}: 'trained.{key}' must be a fraction from 0 to 1, got {value!r}")
    return dict(trained)


@dataclass(frozen=True)
class WeightsEntry:
    """The pretrained weights a card publishes under one tag, and what they can serve.

    A model built with these weights needs ``channels`` input channels, and with the
    top ``num_classes`` classes and ``input_size`` x ``input_size`` images (see
    ``dwr_larq.zoo.weights.resolve``). ``trained`` is the provenance (``TRAINED_FIELDS``).
    """

    tag: str
    num_classes: int
    input_size: int
    top: Variant | None = None
    no_top: Variant | None = None
    channels: int = 3
    trained: dict = field(default_factory=dict, hash=False)

    @classmethod
    def from_dict(cls, tag, data, origin: str = "card") -> WeightsEntry:
        """Parse and check one entry of a card's ``"weights"``; errors name the field."""
        where = f"{origin}: weights[{tag!r}]"
        if not isinstance(tag, str) or not WEIGHTS_TAG.match(tag):
            raise ValueError(f"{origin}: weights tag {tag!r} must be lower-case letters, digits, '_', '.' or '-'")
        if not isinstance(data, dict):
            raise ValueError(f"{where} must be an object, got {data!r}")
        unknown = sorted(set(data) - ENTRY_FIELDS)
        if unknown:
            raise ValueError(f"{where}: unknown field(s) {unknown}; known: {sorted(ENTRY_FIELDS)}")
        sizes = {key: data.get(key) for key in ("num_classes", "input_size")}
        sizes["channels"] = data.get("channels", 3)
        for key, value in sizes.items():
            if not _is_int(value, 1):
                raise ValueError(f"{where}: {key!r} must be an integer >= 1, got {value!r}")
        if not any(variant in data for variant in WEIGHTS_VARIANTS):
            raise ValueError(f"{where} lists no file: give 'top' and/or 'no_top'")
        variants = {v: Variant.from_dict(data[v], f"{where}[{v!r}]") for v in WEIGHTS_VARIANTS if v in data}
        trained = _check_trained(data.get("trained", {}), where)
        entry = cls(tag, **{key: int(value) for key, value in sizes.items()}, trained=trained, **variants)
        for key in ("input_size", "channels"):
            if trained.get(key) is not None and trained[key] != getattr(entry, key):
                raise ValueError(f"{where}: 'trained.{key}' is {trained[key]} but {key!r} is {getattr(entry, key)}")
        return entry

    def to_dict(self) -> dict:
        """The entry as the card's JSON holds it (without the tag, its key there)."""
        data = {"num_classes": self.num_classes, "input_size": self.input_size, "channels": self.channels}
        data.update({v: getattr(self, v).to_dict() for v in WEIGHTS_VARIANTS if getattr(self, v) is not None})
        if self.trained:
            data["trained"] = dict(self.trained)
        return data


@dataclass(frozen=True)
class ModelCard:
    name: str
    dataset: str
    description: str
    spec: BackboneSpec
    source: dict = field(default_factory=dict)
    weights: dict = field(default_factory=dict)  # tag -> WeightsEntry
    figures: dict = field(default_factory=dict)
    weights_url: str | None = None  # base URL of the weight files (DWR_LARQ_WEIGHTS_URL overrides it)
    # Where shipped weights files (weights/<name>.h5) are: the card file's folder, or None
    # for the package's cards folder. Not part of the card's JSON.
    folder: Path | None = field(default=None, compare=False, repr=False)

    @property
    def num_classes(self) -> int:
        return self.spec.head.num_classes

    def shipped_file(self, variant: Variant):
        """Where a shipped variant's file is: a ``Path``, or in the installed package an
        ``importlib.resources`` traversable (open it with ``resources.as_file``)."""
        root = resources.files(CARDS_PACKAGE) if self.folder is None else Path(self.folder)
        return root.joinpath(*variant.file.split("/"))

    @classmethod
    def from_dict(cls, data: dict, origin: str = "card", folder=None) -> ModelCard:
        """Parse and check a card's JSON object; ``folder`` holds its shipped weights
        (default: the package's cards folder)."""
        missing = [key for key in ("name", "dataset", "description", "spec") if key not in data]
        if missing:
            raise ValueError(f"{origin}: missing field(s) {missing}")
        if data["dataset"] not in DATASET_CLASSES:
            raise ValueError(f"{origin}: field 'dataset' must be one of {sorted(DATASET_CLASSES)}, got {data['dataset']!r}")
        try:
            spec = BackboneSpec.from_dict(data["spec"])
        except (TypeError, ValueError) as error:
            raise ValueError(f"{origin}: invalid spec: {error}") from None
        known = {"name", "dataset", "description", "spec", "source", "weights", "figures", "weights_url"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{origin}: unknown field(s) {unknown}")
        source = data.get("source", {})
        if isinstance(source, dict) and "kind" in source:
            member(SourceKind, source["kind"], f"{origin}: source.kind")
        weights = data.get("weights", {})
        if not isinstance(weights, dict):
            raise ValueError(f"{origin}: field 'weights' must be an object of entries by tag, got {weights!r}")
        entries = {tag: WeightsEntry.from_dict(tag, entry, origin) for tag, entry in weights.items()}
        url = data.get("weights_url")
        if url is not None and (not isinstance(url, str) or not url):
            raise ValueError(f"{origin}: field 'weights_url' must be a non-empty URL string, got {url!r}")
        return cls(**{**data, "spec": spec, "weights": entries}, folder=None if folder is None else Path(folder))

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "dataset": self.dataset,
            "description": self.description,
            "source": self.source,
            "spec": self.spec.to_dict(),
            "weights": {tag: entry.to_dict() for tag, entry in self.weights.items()},
            "figures": self.figures,
            **({"weights_url": self.weights_url} if self.weights_url else {}),
        }


def read_card(path) -> ModelCard:
    """Read one card file; errors name the file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON: {error}") from None
    return ModelCard.from_dict(data, origin=str(path), folder=path.parent)


def card_files() -> list:
    """The card files shipped with the package, sorted by file name."""
    folder = resources.files(CARDS_PACKAGE)
    return sorted((entry for entry in folder.iterdir() if entry.name.endswith(".json")), key=lambda e: e.name)


def shipped_cards() -> dict:
    """All shipped cards by model name, in file order."""
    cards = {}
    for entry in card_files():
        card = ModelCard.from_dict(json.loads(entry.read_text()), origin=f"zoo/{entry.name}")
        if card.name in cards:
            raise ValueError(f"zoo/{entry.name}: duplicate model name {card.name!r}")
        cards[card.name] = card
    return cards
