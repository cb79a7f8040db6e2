"""Zoo cards: one JSON file per model in the top-level ``zoo/`` folder.

A card says what a model is (its spec), where it came from (a paper's table, or
DWR applied to another backbone with given settings), which pretrained weights are
published for it, and figures measured with this library. The package ships the
folder as ``dwr_larq.zoo_cards``.

Published weights are listed by tag (a dataset name such as ``imagenet`` or
``cifar10``, or any other name a run was trained on) under ``"weights"``; the files
are served from the card's ``"weights_url"`` (a base URL that the environment
variable ``DWR_LARQ_WEIGHTS_URL`` overrides, for mirrors and air-gapped machines)::

    "weights_url": "https://<host>/<folder holding the files>",
    "weights": {
        "cifar10": {
            "num_classes": 10,        # classes of the top (the classifier)
            "input_size": 32,         # side the weights were trained at
            "top": {"file": "ResNet20DWR-cifar10-0123abcd.h5", "sha256": "<64 hex digits>"},
            "no_top": {"file": "ResNet20DWR-cifar10-notop-4567ef01.h5", "sha256": "<64 hex digits>"},
            "trained": {...}          # optional provenance: dataset, recipe, epochs, accuracy
        }
    }

An entry needs ``num_classes`` and at least one of ``top`` / ``no_top``;
``dwr-larq export-weights`` writes entries from finished training runs. No card
lists weights today: none have been trained and published yet.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from dwr_larq.models.spec import BackboneSpec

# Datasets a card can name, with the class count their weights and heads have.
DATASET_CLASSES = {"imagenet": 1000, "cifar10": 10}
WEIGHTS_VARIANTS = ("top", "no_top")
WEIGHTS_TAG = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
ENTRY_FIELDS = {"num_classes", "input_size", *WEIGHTS_VARIANTS, "trained"}


def check_weights_entry(tag: str, entry, origin: str = "card") -> None:
    """Raise ``ValueError`` naming the field when a weights entry does not follow the format above."""
    where = f"{origin}: weights[{tag!r}]"
    if not isinstance(tag, str) or not WEIGHTS_TAG.match(tag):
        raise ValueError(f"{origin}: weights tag {tag!r} must be lower-case letters, digits, '_', '.' or '-'")
    if not isinstance(entry, dict):
        raise ValueError(f"{where} must be an object, got {entry!r}")
    unknown = sorted(set(entry) - ENTRY_FIELDS)
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {unknown}; known: {sorted(ENTRY_FIELDS)}")
    classes = entry.get("num_classes")
    if isinstance(classes, bool) or not isinstance(classes, int) or classes < 1:
        raise ValueError(f"{where}: 'num_classes' must be an integer >= 1, got {classes!r}")
    size = entry.get("input_size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
        raise ValueError(f"{where}: 'input_size' must be an integer >= 1, got {size!r}")
    if not isinstance(entry.get("trained", {}), dict):
        raise ValueError(f"{where}: 'trained' must be an object, got {entry['trained']!r}")
    if not any(variant in entry for variant in WEIGHTS_VARIANTS):
        raise ValueError(f"{where} lists no file: give 'top' and/or 'no_top'")
    for variant in WEIGHTS_VARIANTS:
        if variant not in entry:
            continue
        item = entry[variant]
        if not isinstance(item, dict) or set(item) != {"file", "sha256"}:
            raise ValueError(f"{where}[{variant!r}] must be {{\"file\": ..., \"sha256\": ...}}, got {item!r}")
        name = item["file"]
        if not isinstance(name, str) or not name or "/" in name or "\\" in name or name.startswith("."):
            raise ValueError(f"{where}[{variant!r}]: 'file' must be a plain file name, got {name!r}")
        if not isinstance(item["sha256"], str) or not SHA256.match(item["sha256"]):
            raise ValueError(f"{where}[{variant!r}]: 'sha256' must be 64 lower-case hex digits, got {item['sha256']!r}")


@dataclass(frozen=True)
class ModelCard:
    name: str
    dataset: str
    description: str
    spec: BackboneSpec
    source: dict = field(default_factory=dict)
    weights: dict = field(default_factory=dict)
    figures: dict = field(default_factory=dict)
    weights_url: str | None = None  # base URL of the weight files (DWR_LARQ_WEIGHTS_URL overrides it)

    @property
    def num_classes(self) -> int:
        return self.spec.head.num_classes

    @classmethod
    def from_dict(cls, data: dict, origin: str = "card") -> ModelCard:
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
        weights = data.get("weights", {})
        if not isinstance(weights, dict):
            raise ValueError(f"{origin}: field 'weights' must be an object of entries by tag, got {weights!r}")
        for tag, entry in weights.items():
            check_weights_entry(tag, entry, origin)
        url = data.get("weights_url")
        if url is not None and (not isinstance(url, str) or not url):
            raise ValueError(f"{origin}: field 'weights_url' must be a non-empty URL string, got {url!r}")
        return cls(**{**data, "spec": spec})

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "dataset": self.dataset,
            "description": self.description,
            "source": self.source,
            "spec": self.spec.to_dict(),
            "weights": self.weights,
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
    return ModelCard.from_dict(data, origin=str(path))


def card_files() -> list:
    """The card files shipped with the package, sorted by file name."""
    folder = resources.files("dwr_larq.zoo_cards")
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
