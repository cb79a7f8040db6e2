"""Input pipelines: tensorflow-datasets, image folders and the embedded digits set.

Every pipeline yields ``(images, labels)`` batches: float32 NHWC RGB images scaled
to [-1, 1] (``scale_pixels``) and int32 labels. The same scaling is used for
training, evaluation and converted models, so a ``.tflite`` file expects it too.

A dataset is named by a string: ``digits`` (scikit-learn's digits, no download),
``digits:N-per-class`` (the same with only N labelled training images of each class),
``folder:PATH`` (one subfolder per class, optionally under ``train/`` and
``test/``), or any tensorflow-datasets image classification name such as
``cifar10`` or ``imagenet2012``. Nothing is ever downloaded here: a tfds dataset
must already be prepared in ``data_dir``.
"""

from __future__ import annotations

import difflib
import functools
import math
import os
import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Callable

import numpy as np
import tensorflow as tf

from dwr_larq.checks import member, positive_int
from dwr_larq.models.preprocessing import scale_pixels

# The embedded dataset's fixed held-out split: 360 of the 1797 images, stratified.
DIGITS_TEST_SIZE = 360
DIGITS_SEED = 0
DIGITS_CLASSES = 10
# "digits:N-per-class": the first N training images of each digit, the test split whole:
# few labels, the case transfer learning is for.
DIGITS_PER_CLASS = re.compile(r"digits:(\d+)-per-class")
FOLDER_PREFIX = "folder:"
IMAGE_SUFFIXES = (".bmp", ".gif", ".jpeg", ".jpg", ".png")  # what Keras' folder loader reads
FOLDER_TEST_NAMES = ("test", "val", "validation")
FOLDER_TEST_FRACTION = 0.2
# Decoded images are cached in memory when they take less than this.
CACHE_BYTES = 1 << 30


@functools.lru_cache(maxsize=4)
def _digits_pixels(image_size: int):
    """Digits as float32 RGB in [0, 255] at ``image_size``, split once and cached."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    # 8x8 grey values in 0..16 -> 0..255, bilinear upscale, grey copied to RGB.
    grey = digits.images.astype(np.float32)[..., None] * (255.0 / 16.0)
    images = tf.image.resize(grey, (image_size, image_size), method="bilinear").numpy()
    images = np.repeat(np.clip(images, 0.0, 255.0), 3, axis=-1).astype(np.float32)
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
    _check_split(split)
    positive_int(image_size, "digits image_size", 8)
    images, labels = _digits_pixels(image_size)[split]
    return scale_pixels(images).astype(np.float32), labels.copy()


def _check_split(split: str) -> None:
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")


# --- augmentation policies -------------------------------------------------------------


def random_resized_crop(image, size: int, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), seed=(0, 0)):
    """Inception-style crop: a random box of ``scale`` of the area, resized to ``size``."""
    begin, box_size, _ = tf.image.stateless_sample_distorted_bounding_box(
        tf.shape(image),
        seed=seed,
        bounding_boxes=tf.zeros([1, 0, 4]),
        area_range=scale,
        aspect_ratio_range=ratio,
        max_attempts=10,
        use_image_if_no_bounding_boxes=True,
    )
    image = tf.slice(image, begin, box_size)
    return tf.image.resize(image, (size, size), method="bilinear")


# AlexNet's PCA lighting noise: the eigenvalues and eigenvectors of ImageNet's RGB
# covariance (pixels in [0, 1]), as fb.resnet.torch and the ReActNet/DWR code use them.
IMAGENET_EIGENVALUES = (0.2175, 0.0188, 0.0045)
IMAGENET_EIGENVECTORS = (
    (-0.5675, 0.7192, 0.4009),
    (-0.5808, -0.0045, -0.8140),
    (-0.5836, -0.6948, 0.4203),
)


# Augmentations draw from stateless ops seeded per example (``seed``: shape [2] int),
# so an image's crop does not depend on which tf.data thread or replica handles it:
# the same seed gives the same epoch on one device, many devices or many workers.


def _seeds(seed, count: int):
    """``count`` independent seeds derived from one."""
    return tf.unstack(tf.random.experimental.stateless_split(seed, count))


def pca_lighting(image, std: float, seed=(0, 0)):
    """Shift every pixel (in [0, 255]) by one random mix of ImageNet's colour principal
    components, weighted by ``std``-scaled normal draws: a whole-image colour cast."""
    alpha = tf.random.stateless_normal([3], seed, stddev=std)
    shift = tf.linalg.matvec(tf.constant(IMAGENET_EIGENVECTORS), alpha * tf.constant(IMAGENET_EIGENVALUES))
    return image + 255.0 * shift


def resize_centre_crop(image, size: int, crop_fraction: float = 224 / 256):
    """Evaluation transform: shorter side to ``size / crop_fraction``, centre crop ``size``."""
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = (size / crop_fraction) / tf.reduce_min(shape)
    resized = tf.cast(tf.round(shape * scale), tf.int32)
    resized = tf.maximum(resized, size)
    image = tf.image.resize(image, resized, method="bilinear")
    top = (resized[0] - size) // 2
    left = (resized[1] - size) // 2
    return tf.image.crop_to_bounding_box(image, top, left, size, size)


def pad_random_crop(image, size: int, padding: int, seed=(0, 0)):
    """CIFAR-style: resize to ``size`` if needed, zero-pad ``padding``, random crop back."""
    image = tf.image.resize(image, (size, size), method="bilinear")
    image = tf.image.pad_to_bounding_box(image, padding, padding, size + 2 * padding, size + 2 * padding)
    return tf.image.stateless_random_crop(image, (size, size, tf.shape(image)[-1]), seed)


class Crop(StrEnum):
    """How a training image is cropped (and an evaluation image resized)."""

    INCEPTION = "inception"  # random resized crops; evaluation: resize, centre crop
    PAD_CROP = "pad_crop"  # CIFAR: pad by 1/8 of the side, random crop; evaluation: resize


@dataclass(frozen=True)
class Policy:
    """How images become model inputs: ``inception`` crops (ImageNet) or ``pad_crop``
    (CIFAR: pad by 1/8 of the side, random crop), with or without horizontal flips."""

    kind: Crop
    flip: bool = True
    lighting: float = 0.0  # PCA lighting noise std (Inception crops of RGB images only)

    def __post_init__(self):
        object.__setattr__(self, "kind", member(Crop, self.kind, "augmentation policy kind"))

    def train_transform(self, size: int) -> Callable:
        """``transform(image, seed)``: the random augmentation of one example."""

        def transform(image, seed):
            crop, lighting, flip = _seeds(seed, 3)
            if self.kind == Crop.INCEPTION:
                image = random_resized_crop(image, size, seed=crop)
                if self.lighting and image.shape[-1] == 3:
                    image = pca_lighting(image, self.lighting, lighting)
            else:
                image = pad_random_crop(image, size, max(1, size // 8), seed=crop)
            return tf.image.stateless_random_flip_left_right(image, flip) if self.flip else image

        return transform

    def eval_transform(self, size: int) -> Callable:
        """``transform(image, seed)`` with the seed unused: no randomness at evaluation."""
        if self.kind == Crop.INCEPTION:
            return lambda image, seed: resize_centre_crop(image, size)
        return lambda image, seed: tf.image.resize(image, (size, size), method="bilinear")


INCEPTION = Policy(Crop.INCEPTION)
PAD_CROP = Policy(Crop.PAD_CROP)


def policy_for_size(image_size: int) -> Policy:
    """Small images (CIFAR-like) get pad-and-crop; larger ones Inception crops."""
    return PAD_CROP if image_size <= 64 else INCEPTION


# --- sources: where images come from ---------------------------------------------------


@dataclass
class Source:
    """A dataset before preprocessing: unbatched ``(image in [0, 255], label)`` per split
    (uint8 where possible, so that caching decoded images costs one byte per value)."""

    name: str
    num_classes: int
    num_examples: dict
    image_size: int  # native (or typical) side, the default input size
    policy: Policy
    _images: Callable  # split, training, image_size, shard -> tf.data.Dataset
    cacheable: dict  # split -> whether decoded images fit in memory
    channels: int = 3  # what ``images`` yields; pipelines convert to what the model wants

    def images(self, split: str, training: bool, image_size: int, shard: tuple = (1, 0)):
        """The split's images; ``shard=(count, index)`` keeps every count-th example from
        ``index``, chosen before anything is decoded (one input pipeline per worker)."""
        return self._images(split, training, image_size, shard)


def digits_source(per_class: int | None = None) -> Source:
    """The embedded digits set at its native 32x32 (resized on the fly for other sizes);
    with ``per_class``, only the first that many training images of each digit."""
    splits = dict(_digits_pixels(32))
    name = "digits"
    if per_class is not None:
        x, y = splits["train"]
        positive_int(per_class, "digits' training images per class", maximum=int(np.bincount(y).min()))
        keep = np.sort(np.concatenate([np.flatnonzero(y == digit)[:per_class] for digit in range(DIGITS_CLASSES)]))
        splits["train"] = (x[keep], y[keep])
        name = f"digits:{per_class}-per-class"

    def images(split, training, image_size, shard):
        x, y = splits[split]
        return tf.data.Dataset.from_tensor_slices((x[shard[1]::shard[0]], y[shard[1]::shard[0]]))

    sizes = {split: len(labels) for split, (_, labels) in splits.items()}
    # Flipped digits are other shapes (a mirrored 2 is not a 2): no flips.
    return Source(name, DIGITS_CLASSES, sizes, 32, Policy(Crop.PAD_CROP, flip=False), images, {"train": False, "test": False})


def array_source(images, labels=None, *, policy: Policy = PAD_CROP, num_classes: int = 1) -> Source:
    """Images already in memory, as a dataset stores them (uint8 pixels, ``(N, H, W)``
    grey or ``(N, H, W, C)``), as a test split: so that ``pipeline`` prepares a user's
    images exactly as it prepared the images weights were evaluated on."""
    pixels = np.asarray(images)
    if pixels.ndim == 3:
        pixels = pixels[..., None]
    if pixels.ndim != 4 or pixels.shape[-1] not in (1, 3) or not len(pixels):
        raise ValueError(f"images must be a batch of shape (N, H, W) or (N, H, W, 1 or 3), got {np.shape(images)}")
    labels = np.zeros(len(pixels), np.int64) if labels is None else np.asarray(labels)

    def images_of(split, training, image_size, shard):
        return tf.data.Dataset.from_tensor_slices((pixels[shard[1]::shard[0]], labels[shard[1]::shard[0]]))

    return Source("arrays", num_classes, {"train": 0, "test": len(pixels)}, pixels.shape[1], policy, images_of,
                  {"train": False, "test": False}, channels=int(pixels.shape[-1]))


def _class_files(path: Path) -> dict:
    """Class name -> sorted image files under each subfolder of ``path`` (empty ones left out)."""
    classes = {}
    for entry in sorted(path.iterdir()):
        if entry.is_dir():
            files = sorted(str(f) for f in entry.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
            if files:
                classes[entry.name] = files
    return classes


def _check_classes(path: Path, classes: dict) -> None:
    if not classes:
        raise ValueError(
            f"image folder {str(path)!r} has no images: expected one subfolder per class holding "
            f"{'/'.join(IMAGE_SUFFIXES)} files, e.g. {path / 'cat' / '0001.jpg'}"
        )
    if len(classes) < 2:
        raise ValueError(
            f"image folder {str(path)!r} has only one class ({next(iter(classes))!r}): "
            "a classifier needs at least two class subfolders"
        )


def _folder_splits(path: Path) -> tuple[list, dict]:
    """(class names, split -> [(file, label)]): ``train/`` + ``test/`` folders, or every
    fifth file of each class held out (a fixed, stratified 80/20 split)."""
    test_dirs = [path / name for name in FOLDER_TEST_NAMES if (path / name).is_dir()]
    if (path / "train").is_dir() and test_dirs:
        found = {"train": _class_files(path / "train"), "test": _class_files(test_dirs[0])}
        for split, root in (("train", path / "train"), ("test", test_dirs[0])):
            _check_classes(root, found[split])
        if set(found["train"]) != set(found["test"]):
            raise ValueError(
                f"image folder {str(path)!r}: train classes {sorted(found['train'])} differ from "
                f"{test_dirs[0].name} classes {sorted(found['test'])}"
            )
    else:
        every = _class_files(path)
        _check_classes(path, every)
        step = round(1 / FOLDER_TEST_FRACTION)
        found = {
            "train": {c: [f for i, f in enumerate(files) if i % step != step - 1] for c, files in every.items()},
            "test": {c: [f for i, f in enumerate(files) if i % step == step - 1] for c, files in every.items()},
        }
        if not any(found["test"].values()):
            raise ValueError(
                f"image folder {str(path)!r} has too few images to hold out a test split "
                f"(every {step}th image of a class is held out); add images or a test/ folder"
            )
    names = sorted(found["train"])
    labelled = {
        split: [(f, names.index(c)) for c in names for f in files.get(c, [])] for split, files in found.items()
    }
    return names, labelled


def folder_source(path, image_size: int | None = None) -> Source:
    """Images in ``path/<class>/*`` or ``path/train/<class>/*`` + ``path/test/<class>/*``.

    Images are decoded at full size (Inception crops need it) or resized once to the
    input size for the pad-and-crop policy, which also makes them cacheable.
    """
    path = Path(path)
    if not path.is_dir():
        raise ValueError(f"image folder {str(path)!r} does not exist or is not a directory")
    names, labelled = _folder_splits(path)
    native = image_size or 224
    policy = policy_for_size(native)

    def images(split, training, size, shard):
        files, labels = zip(*labelled[split][shard[1]::shard[0]])

        def decode(file, label):
            image = tf.io.decode_image(tf.io.read_file(file), channels=3, expand_animations=False)
            if policy.kind == Crop.PAD_CROP:  # resized once, kept as uint8 so the cache stays small
                image = tf.image.resize(image, (size, size), method="bilinear")
                image = tf.cast(tf.round(tf.clip_by_value(image, 0.0, 255.0)), tf.uint8)
            return image, label

        dataset = tf.data.Dataset.from_tensor_slices((list(files), np.asarray(labels, np.int32)))
        return dataset.map(decode, num_parallel_calls=tf.data.AUTOTUNE)

    examples = {split: len(pairs) for split, pairs in labelled.items()}
    cacheable = {
        split: policy.kind == Crop.PAD_CROP and n * native * native * 3 < CACHE_BYTES for split, n in examples.items()
    }
    return Source(f"folder:{path}", len(names), examples, native, policy, images, cacheable)


def _tfds_prepared_instead(name: str, data_dir) -> bool:
    """True when Keras' files for ``name`` are nowhere local but tensorflow-datasets has it
    prepared (in ``data_dir`` or its default folder): such setups keep working unchanged."""
    from dwr_larq.training import keras_datasets

    if keras_datasets.find(keras_datasets.DATASETS[name], data_dir) is not None:
        return False
    import tensorflow_datasets as tfds

    try:
        return tfds.builder(name, data_dir=data_dir).is_prepared()
    except Exception:  # noqa: BLE001  (no such tfds builder or unreadable folder: use Keras' files)
        return False


def keras_files_source(name: str, data_dir=None, download: bool = True) -> Source:
    """MNIST, Fashion-MNIST or CIFAR-10/100 from the files Keras' loaders use, read once
    into memory as uint8 (see ``dwr_larq.training.keras_datasets`` for where they are looked for)."""
    from dwr_larq.training import keras_datasets

    spec = keras_datasets.DATASETS[name]
    folder = keras_datasets.locate(name, data_dir, download=download)
    arrays = {split: keras_datasets.read_split(name, split, folder) for split in ("train", "test")}

    def images(split, training, image_size, shard):
        return tf.data.Dataset.from_tensor_slices(tuple(array[shard[1]::shard[0]] for array in arrays[split]))

    examples = {split: len(labels) for split, (_, labels) in arrays.items()}
    return Source(name, spec.num_classes, examples, spec.image_size, Policy(Crop.PAD_CROP, flip=spec.flip), images,
                  {"train": False, "test": False}, channels=spec.channels)


def _unknown_dataset(name: str) -> ValueError:
    import tensorflow_datasets as tfds

    from dwr_larq.training.keras_datasets import DATASETS as KERAS_FILES

    names = ["digits", *KERAS_FILES, *tfds.list_builders()]
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(close)}?" if close else "use digits, folder:PATH or a tensorflow-datasets name"
    return ValueError(f"unknown dataset {name!r}; {hint}")


def _tfds_split(info, wanted: str) -> str:
    candidates = ("train",) if wanted == "train" else ("validation", "test")
    for split in candidates:
        if split in info.splits:
            return split
    raise ValueError(f"dataset {info.name!r} has no {' or '.join(candidates)} split (it has {sorted(info.splits)})")


def tfds_source(name: str, data_dir=None) -> Source:
    """A prepared tensorflow-datasets image classification dataset (never downloaded here)."""
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        raise _unknown_dataset(name) from None
    if not builder.is_prepared():
        where = data_dir or "the default tensorflow-datasets folder (~/tensorflow_datasets)"
        raise ValueError(
            f"dataset {name!r} is not prepared in {where} (looked for {builder.data_path}); "
            f"prepare it first, e.g. `tfds build {name} --data_dir DIR` (imagenet2012 needs the "
            "manually downloaded archives), then pass --data-dir DIR"
        )
    info = builder.info
    keys = info.supervised_keys
    if not keys or not isinstance(info.features[keys[0]], tfds.features.Image) or not hasattr(
        info.features[keys[1]], "num_classes"
    ):
        raise ValueError(f"dataset {name!r} is not an image classification dataset (supervised keys {keys})")
    image_shape = info.features[keys[0]].shape
    splits = {split: _tfds_split(info, split) for split in ("train", "test")}
    examples = {split: info.splits[tfds_split].num_examples for split, tfds_split in splits.items()}
    static = None not in image_shape[:2]
    native = image_shape[0] if static else 224
    if name.startswith("imagenet"):
        native, policy = 224, INCEPTION
    else:
        policy = policy_for_size(native)
    cacheable = {split: static and n * math.prod(image_shape) < CACHE_BYTES for split, n in examples.items()}

    def images(split, training, size, shard):
        # Files are split between the input pipelines, so each decodes only its own.
        context = tf.distribute.InputContext(num_input_pipelines=shard[0], input_pipeline_id=shard[1])
        read_config = tfds.ReadConfig(input_context=context) if shard[0] > 1 else None
        dataset = builder.as_dataset(split=splits[split], as_supervised=True, shuffle_files=training,
                                     read_config=read_config)

        def to_rgb(image, label):
            if image.shape[-1] == 1:
                image = tf.image.grayscale_to_rgb(image)
            return image, tf.cast(label, tf.int32)

        return dataset.map(to_rgb, num_parallel_calls=tf.data.AUTOTUNE)

    return Source(name, info.features[keys[1]].num_classes, examples, native, policy, images, cacheable)


def source(name: str, data_dir=None, image_size: int | None = None, download: bool = True) -> Source:
    """Resolve a dataset name, checking everything that can be checked before training."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"dataset name must be a non-empty string, got {name!r}")
    if name == "digits":
        return digits_source()
    if name.startswith("digits:"):
        few = DIGITS_PER_CLASS.fullmatch(name)
        if few is None:
            raise ValueError(f"dataset {name!r}: fewer digits are named digits:N-per-class, e.g. digits:5-per-class")
        return digits_source(int(few[1]))
    if name.startswith(FOLDER_PREFIX):
        return folder_source(os.path.expanduser(name[len(FOLDER_PREFIX):]), image_size)
    if data_dir is not None and not Path(data_dir).is_dir():
        raise ValueError(f"--data-dir {str(data_dir)!r} does not exist or is not a directory")
    from dwr_larq.training.keras_datasets import DATASETS as KERAS_FILES

    if name in KERAS_FILES and not _tfds_prepared_instead(name, data_dir):
        return keras_files_source(name, data_dir, download=download)
    return tfds_source(name, data_dir)


# --- pipelines -------------------------------------------------------------------------


def check_batch_size(batch_size) -> int:
    return positive_int(batch_size, "batch size")


@dataclass
class Pipeline:
    """A batched split ready for ``fit``/``evaluate``, with the counts a run reports."""

    dataset: object  # tf.data.Dataset
    num_examples: int
    num_classes: int
    image_size: int
    batch_size: int
    channels: int = 3

    @property
    def steps(self) -> int:
        return math.ceil(self.num_examples / self.batch_size)


def pipeline(
    src: Source, split: str, *, batch_size: int, image_size: int | None = None, training: bool | None = None, seed: int = 0,
    channels: int | None = None, shard: tuple = (1, 0), policy: Policy | None = None,
) -> Pipeline:
    """Batched ``(images in [-1, 1], labels)``; training splits are shuffled and augmented.

    ``channels`` (1 or 3) converts grey to RGB or back; by default the source's own.
    ``shard=(workers, index)`` reads only this worker's share of the split, chosen before
    decoding, in batches of ``batch_size / workers``: every step then trains on one
    global batch of ``batch_size`` over all workers, which tf.distribute splits between
    each worker's replicas (``Pipeline.batch_size`` stays the global batch).
    ``policy`` replaces the source's augmentation (a recipe's own, e.g. with lighting)."""
    _check_split(split)
    batch_size = check_batch_size(batch_size)
    size = image_size or src.image_size
    training = split == "train" if training is None else training
    dataset = src.images(split, training, size, shard)
    if src.cacheable.get(split):
        dataset = dataset.cache()
    if training:
        dataset = dataset.shuffle(min(src.num_examples[split], 10_000), seed=seed, reshuffle_each_iteration=True)
    channels = check_channels(src.channels if channels is None else channels)
    policy = policy or src.policy
    transform = policy.train_transform(size) if training else policy.eval_transform(size)

    def prepare(example, seed):
        image, label = example
        image = tf.cast(image, tf.float32)
        if channels != src.channels:
            image = tf.image.grayscale_to_rgb(image) if channels == 3 else tf.image.rgb_to_grayscale(image)
        return scale_pixels(transform(image, seed)), label

    # One seed per example, new each epoch, in the (shuffled) order of the examples.
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2, drop_remainder=True)
    dataset = tf.data.Dataset.zip((dataset, seeds)).map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.batch(batch_size // shard[0]).prefetch(tf.data.AUTOTUNE)
    if shard[0] > 1:  # already sharded above: tf.distribute must not shard it again
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
        dataset = dataset.with_options(options)
    return Pipeline(dataset, src.num_examples[split], src.num_classes, size, batch_size, channels)


def check_channels(channels) -> int:
    if channels not in (1, 3) or isinstance(channels, bool):
        raise ValueError(f"channels must be 1 (grey) or 3 (RGB), got {channels!r}")
    return int(channels)


def load(name: str, split: str = "train", *, batch_size: int, image_size: int | None = None, data_dir=None, training=None, seed: int = 0) -> Pipeline:
    """One call from a dataset name to a batched pipeline (see ``source`` and ``pipeline``)."""
    check_batch_size(batch_size)
    return pipeline(source(name, data_dir, image_size), split, batch_size=batch_size, image_size=image_size, training=training, seed=seed)


def as_arrays(pipe: Pipeline):
    """All of a (finite, non-augmented) pipeline as NumPy ``(images, labels)``."""
    images, labels = [], []
    for x, y in pipe.dataset:
        images.append(x.numpy())
        labels.append(y.numpy())
    return np.concatenate(images), np.concatenate(labels)
