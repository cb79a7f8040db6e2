"""Writing files so that a crash or an error never leaves a partial one behind."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomically(path, data) -> None:
    """Write ``data`` (bytes or str) to ``path`` via a temporary file renamed into place."""
    path = Path(path)
    payload = data.encode() if isinstance(data, str) else data
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(payload)
        # mkstemp makes the file 0600; give it the permissions an ordinary open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


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
