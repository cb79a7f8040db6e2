"""Run a flatbuffer over batches of images with LCE's interpreter, in a process of its own.

``dwr_larq.deploy.accuracy`` starts one such worker per core (``python -m
dwr_larq.deploy.predict_worker``), each with a single-threaded interpreter, and splits
every batch between them. A worker reads from stdin the flatbuffer (as uint8), then
batches of float32 images, and answers each batch on stdout with the interpreter's
outputs, until stdin closes; every array travels as ``write_array`` frames it. Like the
timing worker (``deploy.timing``) it imports no TensorFlow, so it starts in a moment.
A worker process, not ``multiprocessing``: that would run the caller's main script
again in every worker unless the script guards it.
"""

from __future__ import annotations

import math
import sys

import numpy as np

from dwr_larq.deploy.convert import lite_interpreter


def write_array(stream, array: np.ndarray) -> None:
    """``array`` on a pipe: a header line (dtype and shape), then its bytes. (NumPy's
    ``.npy`` writer and reader need seekable files.)"""
    array = np.ascontiguousarray(array)
    stream.write(" ".join([array.dtype.str, *map(str, array.shape)]).encode() + b"\n")
    stream.write(array.data)
    stream.flush()


def read_array(stream) -> np.ndarray | None:
    """The next array ``write_array`` sent, or None when the pipe closed."""
    header = stream.readline().split()
    if not header:
        return None
    dtype, shape = np.dtype(header[0].decode()), tuple(int(size) for size in header[1:])
    data = stream.read(dtype.itemsize * math.prod(shape))
    if len(data) != dtype.itemsize * math.prod(shape):
        raise EOFError(f"the pipe closed within an array of shape {shape}")
    return np.frombuffer(data, dtype).reshape(shape)


def predict_each(runner, images: np.ndarray) -> np.ndarray:
    """One LCE interpreter's outputs for a batch, image by image (its input has batch 1)."""
    images = np.ascontiguousarray(images, np.float32)
    return np.concatenate([runner.predict([images[i : i + 1]])[0] for i in range(len(images))])


def main() -> int:
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    runner = lite_interpreter(read_array(stdin).tobytes(), num_threads=1)
    while (images := read_array(stdin)) is not None:
        write_array(stdout, predict_each(runner, images))
    return 0


if __name__ == "__main__":
    sys.exit(main())
