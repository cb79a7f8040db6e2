"""The one folder dwr-larq keeps downloads and regenerable files in, with a named sub-folder per kind.

``$DWR_LARQ_HOME`` if set, else ``~/.keras/dwr_larq`` beside Keras' own cache. Set it to move
everything at once (a shared or faster disk); every message about an unusable cache names it.
"""

from __future__ import annotations

import enum
import os
import tempfile
from pathlib import Path

HOME_VARIABLE = "DWR_LARQ_HOME"


class Folder(str, enum.Enum):
    """The sub-folders of the home, one per kind of file kept there."""

    WEIGHTS = "weights"  # published zoo weights (zoo.cache)
    DATASETS = "datasets"  # Keras' small datasets when downloaded (training.keras_datasets)
    TFLITE = "tflite"  # flatbuffers converted for benchmarking (deploy.benchmark)
    DATA_BENCH = "data-bench"  # generated JPEGs for `dwr-larq data-bench`
    LCE_CARDS = "lce-cards"  # candidates' flatbuffers priced by scripts/lce_cards.py


def root() -> Path:
    """``$DWR_LARQ_HOME``, or ``~/.keras/dwr_larq`` like Keras' own cache."""
    return Path(os.path.expanduser(os.environ.get(HOME_VARIABLE) or os.path.join("~", ".keras", "dwr_larq")))


def folder(kind: Folder) -> Path:
    """Where files of ``kind`` are kept (not created: see ``writable``)."""
    return root() / Folder(kind).value


def writable(path) -> Path:
    """Create ``path`` if needed and prove it takes a file (a real write, so a read-only mount,
    a full disk or root on NFS are caught too); else ``ValueError`` naming it and the variable."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        raise ValueError(
            f"the cache folder {path} cannot be written ({error.strerror or error}); set {HOME_VARIABLE} to a writable "
            f"folder (now {os.environ.get(HOME_VARIABLE) or 'unset, so ~/.keras/dwr_larq'})"
        ) from None
    return path
