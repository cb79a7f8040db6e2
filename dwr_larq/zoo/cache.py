"""Published weight files: where they are cached and where they come from.

A file lives in ``$DWR_LARQ_HOME/weights/<file>`` (``dwr_larq.home``) and is fetched by
``dwr_larq.download`` from ``<base URL>/<file>``, the base being ``$DWR_LARQ_WEIGHTS_URL``
if set (a mirror, or ``file:///...`` on an air-gapped machine), else the card's
``weights_url``. A cached file is used only when its sha256 matches the card; a download is
verified before it takes the file's name, and concurrent processes download it once.
Files shipped inside the package (``weights/<name>.h5`` on a card) never come here.
"""

from __future__ import annotations

import os
from pathlib import Path

from dwr_larq import download, home
from dwr_larq.download import sha256  # noqa: F401  (the zoo's checksum of a weights file)

HOME_VARIABLE = home.HOME_VARIABLE
URL_VARIABLE = "DWR_LARQ_WEIGHTS_URL"


def cache_path(file: str) -> Path:
    """Where a weights file is (or would be) cached; the place to copy it by hand."""
    return home.folder(home.Folder.WEIGHTS) / file


def base_url(card_url: str | None) -> str | None:
    """The base URL to download from: the environment's override, else the card's."""
    return os.environ.get(URL_VARIABLE) or card_url


def _placement_hint(file: str, expected: str) -> str:
    return (
        f"to install it by hand, download {file} (sha256 {expected}) on a machine with network and copy it to "
        f"{cache_path(file)}, or set {URL_VARIABLE} to a mirror (a folder works too: file:///path/to/folder)"
    )


def fetch(file: str, expected: str, card_url: str | None, what: str) -> Path:
    """The verified local path of ``file``: from the cache, or downloaded into it.

    ``what`` names the weights in messages (e.g. "ResNet20DWR's 'cifar10' weights").
    Raises ``ValueError`` saying what to do when the file cannot be had.
    """
    target = cache_path(file)
    base = base_url(card_url)
    if not base:
        if target.is_file() and download.sha256(target) == expected:
            return target
        raise ValueError(
            f"{what} ({file}) are not in the cache and the card names no weights_url to download them from; "
            + _placement_hint(file, expected)
        )
    url = f"{base.rstrip('/')}/{file}"
    return download.fetch(url, target, expected, what=what, hint=_placement_hint(file, expected))
