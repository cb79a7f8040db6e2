"""Helpers for the weights, export and fine-tuning tests: a loopback HTTP server that
counts requests, a tiny card, and a generated image folder."""

from __future__ import annotations

import functools
import http.server
import json
import threading
from pathlib import Path

import numpy as np
import tensorflow as tf

from conftest import tiny_card

TINY_CARD = tiny_card(description="a tiny backbone for weights tests")


def write_card(path, **changes) -> str:
    """Write the tiny card (with ``changes`` to its top-level fields) and return its path."""
    Path(path).write_text(json.dumps({**TINY_CARD, **changes}))
    return str(path)


class _Handler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *args, requests, **kwargs):
        self._requests = requests
        super().__init__(*args, **kwargs)

    def do_GET(self):
        self._requests.append(self.path)
        super().do_GET()

    def log_message(self, *args):  # keep test output clean
        pass


class LoopbackServer:
    """Serves ``folder`` on 127.0.0.1 at a free port; ``requests`` lists the GET paths."""

    def __init__(self, folder):
        self.requests = []
        handler = functools.partial(_Handler, directory=str(folder), requests=self.requests)
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self):
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()


def colour_folder(root, per_class: int = 40, size: int = 16, seed: int = 0) -> list:
    """PNG images of three classes told apart by their dominant colour (red, green,
    blue), drawn as stripes of random period and phase with noise; returns the class names."""
    rng = np.random.default_rng(seed)
    names = ["red", "green", "blue"]
    y, x = np.mgrid[0:size, 0:size]
    for channel, name in enumerate(names):
        folder = Path(root) / name
        folder.mkdir(parents=True)
        for index in range(per_class):
            period = rng.integers(2, 5)
            mask = ((x if rng.random() < 0.5 else y) + rng.integers(0, 8)) // period % 2
            foreground, background = rng.uniform(0, 80, 3), rng.uniform(0, 80, 3)
            foreground[channel], background[channel] = rng.uniform(180, 255), rng.uniform(120, 200)
            image = np.where(mask[..., None] > 0, foreground, background) + rng.normal(0, 10, (size, size, 3))
            png = tf.io.encode_png(np.clip(image, 0, 255).astype(np.uint8))
            tf.io.write_file(str(folder / f"{index:03d}.png"), png)
    return names
