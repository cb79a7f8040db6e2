"""The weights cache under many processes at once and under faults: a loopback server
(127.0.0.1) that counts requests and can serve slowly, cut a transfer, stall or answer HTML."""

import hashlib
import http.server
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dwr_larq import download
from dwr_larq.atomic import partials_of
from dwr_larq.zoo import cache

PAYLOAD = os.urandom(256 * 1024)
SHA = hashlib.sha256(PAYLOAD).hexdigest()
FILE = "Tiny-weights.h5"
HTML = b"<!DOCTYPE html>\n<html><body>Please sign in to continue</body></html>\n"


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        server = self.server
        server.requests.append(self.path)
        mode = server.mode
        body = HTML if mode == "html" else server.payload
        self.send_response(200)
        self.send_header("Content-Type", "text/html" if mode == "html" else "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        chunks = [body[i : i + 16 * 1024] for i in range(0, len(body), 16 * 1024)]
        for index, chunk in enumerate(chunks):
            if mode in ("cut", "stall") and index == len(chunks) // 2:
                if mode == "stall":
                    server.release.wait(30)
                return  # the connection closes with half the promised bytes sent
            self.wfile.write(chunk)
            self.wfile.flush()
            if mode == "slow":
                time.sleep(0.05)

    def log_message(self, *args):
        pass


class FaultyServer:
    """Serves ``payload`` at every path on 127.0.0.1; ``mode`` picks how (see ``_Handler``)."""

    def __init__(self, payload=PAYLOAD, mode="ok"):
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.requests, self._server.payload, self._server.mode = [], payload, mode
        self._server.release = threading.Event()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    requests = property(lambda self: self._server.requests)

    def set(self, mode=None, payload=None):
        self._server.mode = mode or self._server.mode
        self._server.payload = payload if payload is not None else self._server.payload

    def stop(self):
        self._server.release.set()
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def server():
    running = FaultyServer()
    yield running
    running.stop()


@pytest.fixture
def weights_folder():
    return Path(os.environ["DWR_LARQ_HOME"]) / "weights"


# One process of a fresh machine loading published weights: the zoo's own call (`weights.load`
# calls exactly this), without building a model, so eight processes start in a fraction of a second.
FETCH = """
import sys
from dwr_larq.zoo import cache
path = cache.fetch(sys.argv[1], sys.argv[2], sys.argv[3], "Tiny's test weights")
print(cache.sha256(path))
"""


def _fetch_in_process(url, file=FILE, sha=SHA):
    return subprocess.Popen([sys.executable, "-c", FETCH, file, sha, url], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=os.environ.copy())


def _names(folder):
    return sorted(os.listdir(folder))


def test_eight_processes_on_an_empty_cache_download_once_and_all_get_the_verified_file(server, weights_folder):
    server.set(mode="slow")  # ~0.8 s per download: every process starts while the first is downloading
    processes = [_fetch_in_process(server.url) for _ in range(8)]
    results = [process.communicate(timeout=120) for process in processes]
    assert [process.returncode for process in processes] == [0] * 8, [err for _, err in results]
    assert {out.strip() for out, _ in results} == {SHA}
    assert server.requests == [f"/{FILE}"]  # one download for eight processes
    assert _names(weights_folder) == [f".{FILE}.lock", FILE]
    assert (weights_folder / FILE).read_bytes() == PAYLOAD


def test_a_download_killed_half_way_leaves_nothing_under_the_name_and_the_next_call_succeeds(server, weights_folder):
    server.set(mode="stall")  # sends half the file, then waits
    process = _fetch_in_process(server.url)
    deadline = time.monotonic() + 60
    while not partials_of(weights_folder / FILE) or len(server.requests) < 1:
        assert time.monotonic() < deadline and process.poll() is None, process.communicate()
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert not (weights_folder / FILE).exists()
    server.set(mode="ok")
    path = cache.fetch(FILE, SHA, server.url, "Tiny's test weights")
    assert path.read_bytes() == PAYLOAD and len(server.requests) == 2
    assert _names(weights_folder) == [f".{FILE}.lock", FILE]  # the killed process's partial file is gone


@pytest.mark.parametrize("damage", [lambda raw: raw[: len(raw) // 3], lambda raw: b"another file" + raw[12:]],
                         ids=["truncated", "replaced"])
def test_a_damaged_cached_file_is_downloaded_again_once(server, weights_folder, damage):
    cache.fetch(FILE, SHA, server.url, "Tiny's test weights")
    target = weights_folder / FILE
    target.write_bytes(damage(PAYLOAD))
    assert cache.fetch(FILE, SHA, server.url, "Tiny's test weights").read_bytes() == PAYLOAD
    assert len(server.requests) == 2
    # Damaged again, and now the server holds another file too: one more try, then a clear error.
    target.write_bytes(damage(PAYLOAD))
    server.set(payload=b"a newer file that the card does not describe")
    with pytest.raises(ValueError, match=rf"downloaded from {server.url}/{FILE} has sha256 [0-9a-f]{{64}}, not {SHA}"):
        cache.fetch(FILE, SHA, server.url, "Tiny's test weights")
    assert len(server.requests) == 3
    assert _names(weights_folder) == [f".{FILE}.lock"]  # neither the damaged nor the wrong file stays


def test_an_html_answer_is_named_as_such_with_the_url(server, weights_folder):
    server.set(mode="html")
    with pytest.raises(ValueError) as error:
        cache.fetch(FILE, SHA, server.url, "Tiny's test weights")
    message = str(error.value)
    assert f"{server.url}/{FILE} answered with an HTML page, not the file" in message
    assert "DWR_LARQ_WEIGHTS_URL" in message  # what to do: a mirror, or copy the file by hand
    assert _names(weights_folder) == [f".{FILE}.lock"]


def test_a_transfer_cut_short_is_an_error_naming_the_url(server, weights_folder):
    server.set(mode="cut")
    with pytest.raises(ValueError, match=rf"could not download {server.url}/{FILE} \(.*(incomplete|of {len(PAYLOAD)} bytes)"):
        cache.fetch(FILE, SHA, server.url, "Tiny's test weights")
    assert _names(weights_folder) == [f".{FILE}.lock"]


def test_waiting_for_another_process_times_out_naming_the_lock(server, weights_folder):
    weights_folder.mkdir(parents=True)
    with download.locked(weights_folder / FILE):  # another process downloading, forever
        with pytest.raises(ValueError, match=rf"waited 0.3s for the lock {weights_folder / ('.' + FILE + '.lock')}"):
            download.fetch(f"{server.url}/{FILE}", weights_folder / FILE, SHA, what="x", lock_timeout=0.3)
    assert server.requests == []


def _read_only_folder(folder: Path):
    """``folder`` made read-only: a read-only tmpfs as root (root ignores permissions), else chmod."""
    folder.mkdir(parents=True)
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return lambda: folder.chmod(0o755)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)], capture_output=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here: {result.stderr.decode().strip()}")
    return lambda: subprocess.run(["umount", str(folder)], check=True)


@pytest.mark.parametrize("kind", ["read-only", "missing and uncreatable"])
def test_an_unwritable_cache_names_the_variable_and_the_folder(server, tmp_path, monkeypatch, kind):
    home = tmp_path / "home"
    monkeypatch.setenv("DWR_LARQ_HOME", str(home))
    if kind == "read-only":
        restore = _read_only_folder(home)
    else:
        (tmp_path / "a-file").write_text("")
        monkeypatch.setenv("DWR_LARQ_HOME", str(tmp_path / "a-file" / "home"))
        restore = lambda: None  # noqa: E731
    try:
        with pytest.raises(ValueError) as error:
            cache.fetch(FILE, SHA, server.url, "Tiny's test weights")
    finally:
        restore()
    message = str(error.value)
    assert f"the cache folder {cache.cache_path(FILE).parent} cannot be written" in message
    assert f"set DWR_LARQ_HOME to a writable folder (now {os.environ['DWR_LARQ_HOME']})" in message
    assert server.requests == []
