"""Zoo cards: one JSON file per model in the top-level ``zoo/`` folder.

A card says what a model is (its spec), where it came from (a paper's table, or
DWR applied to another backbone with given settings), which pretrained weights are
published for it, and figures measured with this library. The package ships the
folder as ``dwr_larq.zoo_cards``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from dwr_larq.spec import BackboneSpec

# Datasets a card can name, with the class count their weights and heads have.
DATASET_CLASSES = {"imagenet": 1000, "cifar10": 10}


@dataclass(frozen=True)
class ModelCard:
    name: str
    dataset: str
    description: str
    spec: BackboneSpec
    source: dict = field(default_factory=dict)
    weights: dict = field(default_factory=dict)
    figures: dict = field(default_factory=dict)

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
        known = {"name", "dataset", "description", "spec", "source", "weights", "figures"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{origin}: unknown field(s) {unknown}")
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
