"""How fast the training input pipeline runs on this machine's CPUs, so a user can size
CPU cores per accelerator before renting them.

``generate_jpegs`` writes a folder of random JPEGs of ImageNet's typical size (about
500x375), so the figure needs no dataset; ``bench`` times the very pipeline ``train``
builds (decode, random resized crop, lighting, flip, scaling, batching) with tf.data
limited to ``cores`` threads, after a warm-up, and reports images per second and per core.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from dwr_larq.checks import positive_int
from dwr_larq.training import data

IMAGENET_TYPICAL_SIZE = (375, 500)  # height, width: ImageNet's median training image


def generate_jpegs(folder, images: int = 256, classes: int = 4, size=IMAGENET_TYPICAL_SIZE, seed: int = 0) -> Path:
    """``folder/<class>/<n>.jpg``: ``images`` random-noise JPEGs (quality 90), split over
    ``classes``; an existing folder with as many images is reused."""
    folder = Path(folder)
    positive_int(images, "generated images", 2 * classes)
    existing = sorted(folder.glob("*/*.jpg")) if folder.is_dir() else []
    if len(existing) == images:
        return folder
    rng = np.random.default_rng(seed)
    # Smooth noise (upscaled) compresses like a photograph, unlike per-pixel noise.
    for index in range(images):
        small = rng.integers(0, 256, (size[0] // 8, size[1] // 8, 3), dtype=np.uint8)
        image = tf.image.resize(small, size, method="bilinear")
        jpeg = tf.io.encode_jpeg(tf.cast(image, tf.uint8), quality=90)
        target = folder / f"class{index % classes}" / f"{index:05d}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        tf.io.write_file(str(target), jpeg)
    return folder


@dataclass(frozen=True)
class Throughput:
    cores: int
    images: int
    seconds: float

    @property
    def images_per_second(self) -> float:
        return self.images / self.seconds

    @property
    def per_core(self) -> float:
        return self.images_per_second / self.cores

    def to_dict(self) -> dict:
        return {"cores": self.cores, "images": self.images, "seconds": round(self.seconds, 3),
                "images_per_second": round(self.images_per_second, 1), "images_per_second_per_core": round(self.per_core, 1)}


def bench(dataset: str, *, cores: int, batch_size: int = 64, image_size: int = 224, batches: int = 20,
          warmup: int = 3, lighting: float = 0.1, data_dir=None) -> Throughput:
    """Time ``batches`` batches of ``dataset``'s training pipeline on ``cores`` threads."""
    cores = positive_int(cores, "cores")
    batches = positive_int(batches, "batches")
    warmup = positive_int(warmup, "warm-up batches", 0)
    source = data.source(dataset, data_dir, image_size=image_size)
    policy = source.policy
    if lighting and policy.kind == data.Crop.INCEPTION:
        policy = data.Policy(policy.kind, policy.flip, lighting)
    pipe = data.pipeline(source, "train", batch_size=batch_size, image_size=image_size, policy=policy)
    options = tf.data.Options()
    options.threading.private_threadpool_size = cores
    options.threading.max_intra_op_parallelism = 1
    batches_needed = warmup + batches
    stream = iter(pipe.dataset.repeat().take(batches_needed).with_options(options))
    for _ in range(warmup):
        next(stream)
    start, images = time.perf_counter(), 0
    for _ in range(batches):
        images += int(next(stream)[1].shape[0])
    return Throughput(cores, images, time.perf_counter() - start)


def available_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
