"""Argument checks shared by every wing, so the same mistake gets the same message."""

from __future__ import annotations

import numbers
from enum import Enum
from typing import TypeVar

E = TypeVar("E", bound=Enum)


def positive_int(value, what: str, minimum: int = 1, maximum: int | None = None) -> int:
    """``value`` as an int if it is an integer >= ``minimum`` (and <= ``maximum`` when
    given; bools are not integers here), else a ``ValueError`` naming ``what``."""
    if (isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum
            or (maximum is not None and value > maximum)):
        bounds = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"
        raise ValueError(f"{what} must be an integer {bounds}, got {value!r}")
    return int(value)


def number_at_least(value, what: str, minimum: float) -> float:
    """``value`` as a float if it is a real number >= ``minimum``, else a ``ValueError`` naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= minimum:
        raise ValueError(f"{what} must be a number >= {minimum:g}, got {value!r}")
    return float(value)


def positive_number(value, what: str) -> float:
    """``value`` as a float if it is a real number > 0, else a ``ValueError`` naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise ValueError(f"{what} must be > 0, got {value!r}")
    return float(value)


def member(kind: type[E], value, what: str) -> E:
    """``value`` (a member of the closed set ``kind`` or its value) as that member, else a
    ``ValueError`` naming ``what`` and listing every valid value: a typo never falls through."""
    try:
        return kind(value)
    except ValueError:
        valid = ", ".join(str(item.value) for item in kind)
        raise ValueError(f"{what} must be one of {valid}, got {value!r}") from None
