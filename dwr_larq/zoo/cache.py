"""Published weight files: where they are cached, where they come from, and verifying them.

A file lives in ``$DWR_LARQ_HOME/weights/<file>`` (default ``~/.keras/dwr_larq``) and
is downloaded with ``tf.keras.utils.get_file`` from ``<base URL>/<file>``, the base
being ``$DWR_LARQ_WEIGHTS_URL`` if set (a mirror, or ``file:///...`` on an air-gapped
machine), else the card's ``weights_url``. A cached file is used only when its
sha256 matches the card; a download goes to a temporary name and is renamed into
place only once verified, so the cache never holds a file that does not match.
Files shipped inside the package (``weights/<name>.h5`` on a card) never come here.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

HOME_VARIABLE = "DWR_LARQ_HOME"
URL_VARIABLE = "DWR_LARQ_WEIGHTS_URL"
SUBDIR = "weights"


def home() -> Path:
    """The cache root: ``$DWR_LARQ_HOME``, or ``~/.keras/dwr_larq`` like Keras' own cache."""
    return Path(os.path.expanduser(os.environ.get(HOME_VARIABLE) or os.path.join("~", ".keras", "dwr_larq")))


def cache_path(file: str) -> Path:
    """Where a weights file is (or would be) cached; the place to copy it by hand."""
    return home() / SUBDIR / file


def sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def base_url(card_url: str | None) -> str | None:
    """The base URL to download from: the environment's override, else the card's."""
    return os.environ.get(URL_VARIABLE) or card_url


def _placement_hint(file: str, expected: str) -> str:
    return (
        f"to install it by hand, download {file} (sha256 {expected}) on a machine with network and copy it to "
        f"{cache_path(file)}, or set {URL_VARIABLE} to a mirror (a folder works too: file:///path/to/folder)"
    )


def _writable_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ValueError(f"cannot create the weights cache {folder} ({error}); set {HOME_VARIABLE} to a writable folder") from None
    if not os.access(folder, os.W_OK):
        raise ValueError(f"the weights cache {folder} is not writable; set {HOME_VARIABLE} to a writable folder")


def fetch(file: str, expected: str, card_url: str | None, what: str) -> Path:
    """The verified local path of ``file``: from the cache, or downloaded into it.

    ``what`` names the weights in messages (e.g. "ResNet20DWR's 'cifar10' weights").
    Raises ``ValueError`` saying what to do when the file cannot be had.
    """
    target = cache_path(file)
    if target.is_file():
        if sha256(target) == expected:
            return target
        print(f"cached {target} does not match the card's sha256 {expected}; downloading it again")
    base = base_url(card_url)
    if not base:
        raise ValueError(
            f"{what} ({file}) are not in the cache and the card names no weights_url to download them from; "
            + _placement_hint(file, expected)
        )
    _writable_folder(target.parent)
    url = f"{base.rstrip('/')}/{file}"
    partial = f".{file}.{os.getpid()}.partial"  # per process: parallel loads never share a partial file
    import tensorflow as tf

    try:
        downloaded = tf.keras.utils.get_file(
            partial, url, file_hash=expected, hash_algorithm="sha256", cache_dir=str(home()), cache_subdir=SUBDIR
        )
    except ValueError:  # get_file's hash check failed: the file is there but wrong
        bad = target.parent / partial
        found = sha256(bad) if bad.is_file() else "unknown"
        if bad.is_file():
            bad.unlink()
        raise ValueError(
            f"{what}: the file downloaded from {url} has sha256 {found}, not {expected} as the card says; "
            f"deleted it (the server holds another file under that name, or the download was corrupted)"
        ) from None
    except Exception as error:  # get_file turns HTTP and network errors into plain Exceptions
        raise ValueError(f"{what}: could not download {url} ({error}); " + _placement_hint(file, expected)) from None
    os.replace(downloaded, target)
    return target
