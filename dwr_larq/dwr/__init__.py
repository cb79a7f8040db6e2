"""Depth-Width Reshaping as functions from one backbone spec to another.

    >>> from dwr_larq import dwr, reshaping
    >>> naive = dwr.naive(spec, s=3)                                # no TensorFlow needed
    >>> result = reshaping.reshape(spec, train_data, calibration, s=3)  # pre-train, search, match

``budget`` holds the TF-free arithmetic (naive reshaping, budgets, rounding), ``search``
the DBSCAN width search on a trained model, ``method`` the whole method. The package
imports nothing from ``training/``, ``deploy/`` or ``cli/``: pre-training and budget
measures are passed in (``dwr_larq.reshaping`` wires the project's).
"""

import importlib

_LAZY = {
    "naive": "dwr_larq.dwr.budget",
    "round_width": "dwr_larq.dwr.budget",
    "scale_widths": "dwr_larq.dwr.budget",
    "match_budget": "dwr_larq.dwr.budget",
    "Budget": "dwr_larq.dwr.budget",
    "BudgetMiss": "dwr_larq.dwr.budget",
    "search_widths": "dwr_larq.dwr.search",
    "width_search": "dwr_larq.dwr.search",
    "cluster_channels": "dwr_larq.dwr.search",
    "stage_output_layers": "dwr_larq.dwr.search",
    "reshape": "dwr_larq.dwr.method",
    "DWRResult": "dwr_larq.dwr.method",
}
__all__ = list(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'dwr_larq.dwr' has no attribute {name!r}")
