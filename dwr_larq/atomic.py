"""Writing files so that a crash, an error or a full disk never leaves a partial one behind.

Everything dwr-larq writes goes through ``atomic_path``: the writer fills a temporary file
beside the target (same folder, so same filesystem), which is renamed over the target only
once complete. Until then the previous file, if any, stays as it was.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import uuid
from pathlib import Path

# A temporary file's name: ``.<stem>.<pid>-<random>.partial<suffix>``; the suffix is kept
# because writers such as Keras' ``save`` choose the format from it.
PARTIAL_GLOB = ".*.partial*"
_NO_SPACE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_NO_SPACE_TEXTS = ("No space left on device", "Disk quota exceeded", "File too large")


class NoSpaceError(ValueError):
    """A write failed because the disk (or the quota) is full; nothing was half-written."""


def out_of_space(error: BaseException) -> bool:
    """True when ``error`` (Python's, h5py's or TensorFlow's) says the disk or quota is full."""
    if isinstance(error, OSError) and error.errno in _NO_SPACE_ERRNOS:
        return True
    return any(text in str(error) for text in _NO_SPACE_TEXTS)


def path_in(error: BaseException) -> str:
    """The file an error is about: its ``filename``, else the first path in its message whose
    folder exists (TensorFlow's errors carry it only there, among device names), else "a file"."""
    if getattr(error, "filename", None):
        return str(error.filename)
    for found in re.finditer(r"/[^\s;,'\"(){}]+", str(error)):
        if os.path.isdir(os.path.dirname(found.group())):  # not a TensorFlow device name
            return found.group()
    return "a file"


def no_space_message(path) -> str:
    return (
        f"no space left on the device writing {path}; free some space (or write elsewhere) and run the same command "
        "again: what was there before is unchanged and nothing was left half-written"
    )


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _temporary_name(path: Path) -> str:
    return f".{path.stem}.{os.getpid()}-{uuid.uuid4().hex[:8]}.partial{path.suffix}"


def partials_of(path) -> list:
    """The temporary files of writes of ``path`` that never finished (or are under way)."""
    path = Path(path)
    pattern = re.compile(rf"\.{re.escape(path.stem)}\.\d+-[0-9a-f]{{8}}\.partial{re.escape(path.suffix)}")
    return [p for p in path.parent.glob(f".{path.stem}.*") if pattern.fullmatch(p.name)]


@contextlib.contextmanager
def temporary_beside(path):
    """A temporary path beside ``path`` for the ``with`` body to write and rename (for a writer
    that names the file from its content); removed if still there afterwards. A full disk
    becomes ``NoSpaceError`` naming ``path``."""
    path = Path(path)
    temporary = path.with_name(_temporary_name(path))
    try:
        yield temporary
    except BaseException as error:
        if out_of_space(error):
            raise NoSpaceError(no_space_message(path)) from None
        raise
    finally:
        _remove(temporary)


@contextlib.contextmanager
def atomic_path(path):
    """A temporary path beside ``path`` for the ``with`` body to write (bytes, Keras' ``save``,
    ``save_weights``), renamed to ``path`` when the body succeeds and removed when it fails."""
    with temporary_beside(path) as temporary:
        yield temporary
        os.replace(temporary, path)


def write_atomically(path, data) -> None:
    """Write ``data`` (bytes or str) to ``path`` via a temporary file renamed into place."""
    payload = data.encode() if isinstance(data, str) else data
    with atomic_path(path) as temporary:
        temporary.write_bytes(payload)


def _file_in_the_way(folder: Path):
    """The nearest existing ancestor of ``folder`` (itself included) when it is a file, not a folder."""
    for ancestor in (folder, *folder.parents):
        if ancestor.exists():
            return None if ancestor.is_dir() else ancestor
    return None


def check_output_folder(folder) -> Path:
    """Fail early, naming the file in the way, when ``folder`` (which may not exist yet)
    cannot be a folder because it or one of its parents is a regular file."""
    folder = Path(folder)
    blocking = _file_in_the_way(folder)
    if blocking is not None:
        where = "" if blocking == folder else f"{str(folder)!r}: "
        raise ValueError(f"{where}{str(blocking)!r} is a file, not a folder")
    return folder


def check_output_path(path) -> Path:
    """Fail early, naming the problem, when ``path`` cannot be written."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise ValueError(f"output path {str(path)!r} is a directory; give a file name")
    if not parent.is_dir():
        blocking = _file_in_the_way(parent)
        if blocking is not None:
            raise ValueError(f"{str(path)!r}: {str(blocking)!r} is a file, not a folder")
        raise ValueError(f"output folder {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK):
        raise ValueError(f"output folder {str(parent)!r} is not writable")
    return path
