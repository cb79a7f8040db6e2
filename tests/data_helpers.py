"""Data files that tests write: Fashion-MNIST-format files and folders of PNGs."""

import gzip
import hashlib
import struct

import numpy as np
import tensorflow as tf

TRAIN, TEST = 6, 4  # tiny splits


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    header = struct.pack(">i", magic) + struct.pack(f">{array.ndim}i", *array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes())


def write_fashion(folder, seed=0, train=TRAIN, test=TEST) -> dict:
    """Tiny Fashion-MNIST-format files; returns name -> sha256."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte.gz": (rng.integers(0, 256, (train, 28, 28)), 2051),
        "train-labels-idx1-ubyte.gz": (rng.integers(0, 10, train), 2049),
        "t10k-images-idx3-ubyte.gz": (rng.integers(0, 256, (test, 28, 28)), 2051),
        "t10k-labels-idx1-ubyte.gz": (rng.integers(0, 10, test), 2049),
    }
    hashes = {}
    for name, (array, magic) in arrays.items():
        raw = idx_bytes(array, magic)
        (folder / name).write_bytes(raw)
        hashes[name] = hashlib.sha256(raw).hexdigest()
    return hashes


def write_pngs(folder, counts, size=(20, 28)):
    """Random RGB PNGs, ``counts[class]`` of them in ``folder/<class>/``."""
    rng = np.random.default_rng(0)
    for name, count in counts.items():
        (folder / name).mkdir(parents=True)
        for i in range(count):
            pixels = rng.integers(0, 255, (*size, 3), dtype=np.uint8)
            tf.io.write_file(str(folder / name / f"{i:03d}.png"), tf.io.encode_png(pixels))
