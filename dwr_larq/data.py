"""Input pipelines: tensorflow-datasets, image folders and the embedded digits set.

Every pipeline yields ``(images, labels)`` batches: float32 NHWC RGB images scaled
to [-1, 1] (``scale_pixels``) and int32 labels. The same scaling is used for
training, evaluation and converted models, so a ``.tflite`` file expects it too.
"""

from __future__ import annotations

import functools

import numpy as np

# The embedded dataset's fixed held-out split: 360 of the 1797 images, stratified.
DIGITS_TEST_SIZE = 360
DIGITS_SEED = 0
DIGITS_CLASSES = 10


def scale_pixels(images):
    """Map pixel values in [0, 255] to [-1, 1] (works on NumPy arrays and tensors)."""
    return images / 127.5 - 1.0


@functools.lru_cache(maxsize=4)
def _digits(image_size: int):
    import tensorflow as tf
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    # 8x8 grey values in 0..16 -> 0..255, bilinear upscale, grey copied to RGB.
    grey = digits.images.astype(np.float32)[..., None] * (255.0 / 16.0)
    images = tf.image.resize(grey, (image_size, image_size), method="bilinear").numpy()
    images = np.repeat(scale_pixels(images), 3, axis=-1).astype(np.float32)
    labels = digits.target.astype(np.int32)
    train_x, test_x, train_y, test_y = train_test_split(
        images, labels, test_size=DIGITS_TEST_SIZE, stratify=labels, random_state=DIGITS_SEED
    )
    return {"train": (train_x, train_y), "test": (test_x, test_y)}


def digits(split: str = "train", image_size: int = 32):
    """scikit-learn's bundled 8x8 digits as ``image_size`` RGB images in [-1, 1].

    No download: the data ships with scikit-learn. The split is fixed (1437 train,
    360 test, stratified), so accuracies are comparable across runs and machines.
    Returns ``(images float32 [N, S, S, 3], labels int32 [N])``; fresh copies.
    """
    if split not in ("train", "test"):
        raise ValueError(f"digits split must be 'train' or 'test', got {split!r}")
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 8:
        raise ValueError(f"digits image_size must be an integer >= 8, got {image_size!r}")
    images, labels = _digits(image_size)[split]
    return images.copy(), labels.copy()
