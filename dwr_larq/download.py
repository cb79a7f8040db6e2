"""The one way dwr-larq downloads a file: verified by sha256, visible under its name only once
complete and verified, and fetched once however many processes ask for it at the same time.

A download goes to a temporary file beside the target (``dwr_larq.atomic``) renamed into place
only when its hash matches, so a killed download, a truncated transfer or a wrong file never sits
under the final name. Processes sharing a cache (training workers, notebook kernels, an NFS
folder) take an exclusive ``flock`` on ``.<name>.lock`` beside the target; the first one in
downloads, the others wait and then find the verified file. The kernel drops the lock of a
process that dies, so a killed download never blocks the next one.

Standard library ``urllib`` rather than ``tf.keras.utils.get_file``: the latter has no network
timeout, imports TensorFlow (seconds per worker) and would need the same lock and rename around it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import http.client
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from dwr_larq import home
from dwr_larq.atomic import out_of_space, partials_of, temporary_beside

# Seconds to wait for another process's download of the same file before giving up.
LOCK_TIMEOUT = 900.0
# Seconds a stalled connection may stay silent before the download fails.
NETWORK_TIMEOUT = 60.0
CHUNK = 1 << 20


class DownloadError(ValueError):
    """A file could not be had: the message says which, from where, and what to do."""


def sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def lock_path(target) -> Path:
    target = Path(target)
    return target.with_name(f".{target.name}.lock")


@contextlib.contextmanager
def locked(target, timeout: float = LOCK_TIMEOUT):
    """Hold the exclusive lock of ``target`` (its folder must exist) for the ``with`` body."""
    path = lock_path(target)
    with open(path, "a") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise DownloadError(
                        f"waited {timeout:g}s for the lock {path}: another process is still fetching "
                        f"{Path(target).name}; try again later, or delete {path} if no process on any machine "
                        "sharing this folder is downloading"
                    ) from None
                time.sleep(0.05)
        try:
            yield path
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _is_html(path) -> bool:
    with open(path, "rb") as handle:
        start = handle.read(512).lstrip().lower()
    return start.startswith((b"<!doctype html", b"<html")) or b"<html" in start


def _copy(url: str, partial: Path) -> None:
    """Stream ``url`` into ``partial``, failing on a transfer cut short."""
    with urllib.request.urlopen(url, timeout=NETWORK_TIMEOUT) as response, open(partial, "wb") as out:
        expected = response.headers.get("Content-Length")
        received = 0
        for chunk in iter(lambda: response.read(CHUNK), b""):
            out.write(chunk)
            received += len(chunk)
    if expected is not None and received != int(expected):
        raise urllib.error.ContentTooShortError(f"got {received} of {expected} bytes", None)


def _with_hint(message: str, hint: str) -> str:
    return f"{message}; {hint}" if hint else message


def _download(url: str, target: Path, expected: str, what: str, hint: str) -> None:
    print(f"downloading {url} to {target}", file=sys.stderr)
    with temporary_beside(target) as partial:  # a full disk is its NoSpaceError
        try:
            _copy(url, partial)
        except (OSError, ValueError, http.client.HTTPException) as error:  # URLError, HTTPError, timeouts, cut transfers
            if out_of_space(error):
                raise
            reason = getattr(error, "reason", None) or error
            code = f"HTTP {error.code} " if isinstance(error, urllib.error.HTTPError) else ""
            raise DownloadError(_with_hint(f"{what}: could not download {url} ({code}{reason})", hint)) from None
        found = sha256(partial)
        if found != expected:
            if _is_html(partial):
                raise DownloadError(_with_hint(
                    f"{what}: {url} answered with an HTML page, not the file (a login, proxy or error page?); "
                    "nothing was cached", hint))
            raise DownloadError(
                f"{what}: the file downloaded from {url} has sha256 {found}, not {expected} as expected; deleted it "
                "(the server holds another file under that name, or the download was corrupted)"
            )
        os.replace(partial, target)


def fetch(url: str, target, expected: str, *, what: str, hint: str = "", lock_timeout: float = LOCK_TIMEOUT) -> Path:
    """The verified file ``target``: reused when its sha256 is ``expected``, else downloaded from ``url``.

    A cached file that does not match (truncated, replaced) is deleted and downloaded once more;
    a download that does not match is an error. ``what`` names the file in messages, ``hint``
    ends them with what the user can do. Raises ``DownloadError`` (a ``ValueError``).
    """
    target = Path(target)
    if target.is_file() and sha256(target) == expected:
        return target
    try:
        home.writable(target.parent)
    except ValueError as error:
        raise DownloadError(f"{what}: {error}") from None
    with locked(target, lock_timeout):
        if target.is_file():  # another process may have placed it while we waited
            if sha256(target) == expected:
                return target
            print(f"cached {target} does not match its sha256 {expected}; downloading it again", file=sys.stderr)
            target.unlink()
        for stale in partials_of(target):
            stale.unlink()  # left by a killed download: every downloader of this file holds the lock
        _download(url, target, expected, what, hint)
    return target
