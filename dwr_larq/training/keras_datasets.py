"""The small datasets Keras ships loaders for (MNIST, Fashion-MNIST, CIFAR-10/100),
read from the very files those loaders cache, so one copy serves both.

Where a dataset's files are looked for, in order:

1. ``--data-dir`` (the files directly in it, or in Keras' cache sub-folder under it);
2. dwr-larq's own cache (``$DWR_LARQ_HOME/datasets/...``, see ``dwr_larq.home``);
3. Keras' cache (``$KERAS_HOME`` or ``~/.keras``, then ``datasets/...``);
4. the Debian package location (``apt-get install dataset-fashion-mnist`` puts the four
   Fashion-MNIST files in ``/usr/share/datasets/fashion-mnist``).

Only when none has them is anything downloaded, into dwr-larq's cache through
``dwr_larq.download`` (each file verified against its known SHA-256 before it takes its
name, once however many processes ask); an archive (CIFAR) is extracted into a temporary
folder renamed into place (``dwr_larq.atomic``), so a failed or cut download never leaves a
half-written dataset.
"""

from __future__ import annotations

import gzip
import os
import pickle
import shutil
import struct
import tarfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np

from dwr_larq import download, home
from dwr_larq.atomic import atomic_path
from dwr_larq.checks import member

# Keras' own download location for the MNIST family (tf.keras.datasets.{mnist,fashion_mnist}).
KERAS_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
TORONTO_ORIGIN = "https://www.cs.toronto.edu/~kriz/"
DEBIAN_ROOT = Path("/usr/share/datasets")

IDX_IMAGES_MAGIC = 2051
IDX_LABELS_MAGIC = 2049


class Reader(StrEnum):
    """How a dataset's files are read (``read_split``)."""

    IDX = "idx"  # gzipped IDX files (Fashion-MNIST)
    NPZ = "npz"  # Keras' mnist.npz
    CIFAR10 = "cifar10"  # pickled CIFAR batches, "labels"
    CIFAR100 = "cifar100"  # pickled CIFAR batches, "fine_labels"


@dataclass(frozen=True)
class KerasDataset:
    """One dataset: its files (name -> SHA-256), where Keras caches them and how to read them.

    ``cache_subdir`` is the folder under ``~/.keras/datasets`` that Keras' loader uses
    (empty for MNIST's single ``mnist.npz``). ``archive`` names the ``.tar.gz`` that
    holds the files (CIFAR); the files are then looked for in its extracted folder.
    """

    name: str
    num_classes: int
    image_size: int
    channels: int
    cache_subdir: str
    files: dict
    origin: str
    reader: Reader
    flip: bool
    archive: str | None = None
    archive_sha256: str | None = None
    debian_dir: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "reader", member(Reader, self.reader, f"dataset {self.name!r}: reader"))


# SHA-256 sums: Fashion-MNIST's as measured on the Debian package's files (the original
# Zalando files that Keras also serves); MNIST's and CIFAR's as in Keras' own loaders.
DATASETS = {
    "fashion_mnist": KerasDataset(
        "fashion_mnist", 10, 28, 1, "fashion-mnist",
        files={
            "train-images-idx3-ubyte.gz": "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
            "train-labels-idx1-ubyte.gz": "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
            "t10k-images-idx3-ubyte.gz": "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
            "t10k-labels-idx1-ubyte.gz": "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
        },
        origin=KERAS_ORIGIN, reader="idx", flip=True, debian_dir="fashion-mnist",
    ),
    "mnist": KerasDataset(
        "mnist", 10, 28, 1, "",
        files={"mnist.npz": "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"},
        origin=KERAS_ORIGIN, reader="npz", flip=False,  # a mirrored digit is another shape
    ),
    "cifar10": KerasDataset(
        "cifar10", 10, 32, 3, "cifar-10-batches-py",
        files={**{f"data_batch_{i}": None for i in range(1, 6)}, "test_batch": None},
        origin=TORONTO_ORIGIN, reader="cifar10", flip=True,
        archive="cifar-10-python.tar.gz",
        archive_sha256="6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
    ),
    "cifar100": KerasDataset(
        "cifar100", 100, 32, 3, "cifar-100-python",
        files={"train": None, "test": None},
        origin=TORONTO_ORIGIN, reader="cifar100", flip=True,
        archive="cifar-100-python.tar.gz",
        archive_sha256="85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7",
    ),
}

NUM_EXAMPLES = {
    "fashion_mnist": {"train": 60_000, "test": 10_000},
    "mnist": {"train": 60_000, "test": 10_000},
    "cifar10": {"train": 50_000, "test": 10_000},
    "cifar100": {"train": 50_000, "test": 10_000},
}


class DatasetFilesError(ValueError):
    """The dataset's files are missing, cannot be downloaded, or are corrupt."""


def keras_cache() -> Path:
    """Keras' dataset cache: ``$KERAS_HOME/datasets`` or ``~/.keras/datasets``."""
    keras_home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(keras_home) / "datasets"


def candidate_dirs(dataset: KerasDataset, data_dir=None) -> list:
    """Folders that may hold the dataset's files, in the order they are tried."""
    dirs = []
    if data_dir is not None:
        dirs += [Path(data_dir), Path(data_dir) / dataset.cache_subdir]
    dirs += [home.folder(home.Folder.DATASETS) / dataset.cache_subdir, keras_cache() / dataset.cache_subdir]
    if dataset.debian_dir:
        dirs.append(DEBIAN_ROOT / dataset.debian_dir)
    unique = []
    for folder in dirs:
        if folder not in unique:
            unique.append(folder)
    return unique


def find(dataset: KerasDataset, data_dir=None) -> Path | None:
    """The first candidate folder holding every file of ``dataset``, or None."""
    for folder in candidate_dirs(dataset, data_dir):
        if all((folder / name).is_file() for name in dataset.files):
            return folder
    return None


def _missing_message(dataset: KerasDataset, data_dir, reason: str) -> str:
    files = ", ".join(dataset.files) if not dataset.archive else f"{dataset.archive} (extracted to {dataset.cache_subdir}/)"
    ways = [f"pass --data-dir DIR holding {files}",
            f"put them in {home.folder(home.Folder.DATASETS) / dataset.cache_subdir} or Keras' cache {keras_cache() / dataset.cache_subdir}"]
    if dataset.debian_dir:
        ways.append(f"`apt-get install dataset-{dataset.debian_dir}` (installs them in {DEBIAN_ROOT / dataset.debian_dir})")
    else:
        ways.append("run somewhere with a network once so Keras downloads them")
    where = ", ".join(str(d) for d in candidate_dirs(dataset, data_dir))
    return f"dataset {dataset.name!r} not found (looked in {where}) and {reason}; to provide it: " + "; or ".join(ways)


def _extract(archive: Path, dataset: KerasDataset, target: Path) -> None:
    """Extract ``dataset``'s files from ``archive`` into ``target``, a folder written atomically,
    under the target's lock so parallel extractions do not collide."""
    with download.locked(target):
        if all((target / name).is_file() for name in dataset.files):
            return  # another process extracted it while we waited
        if target.exists():
            shutil.rmtree(target)  # an incomplete folder placed by hand
        with atomic_path(target) as staging, tarfile.open(archive) as tar:
            staging.mkdir()
            for entry in tar.getmembers():
                if Path(entry.name).name in dataset.files and entry.isfile():
                    with tar.extractfile(entry) as source, open(staging / Path(entry.name).name, "wb") as out:
                        shutil.copyfileobj(source, out)
            missing = [name for name in dataset.files if not (staging / name).is_file()]
            if missing:
                raise DatasetFilesError(f"downloaded {dataset.name!r} archive {archive} lacks {', '.join(missing)}")


def _download(dataset: KerasDataset, data_dir) -> Path:
    """Fetch the files into dwr-larq's dataset cache; each one appears only when verified."""
    root = home.folder(home.Folder.DATASETS)
    target = root / dataset.cache_subdir
    try:
        if dataset.archive:
            archive = download.fetch(dataset.origin + dataset.archive, root / dataset.archive, dataset.archive_sha256,
                                     what=f"dataset {dataset.name!r}")
            _extract(archive, dataset, target)
        else:
            for name, sha256 in dataset.files.items():
                download.fetch(dataset.origin + name, target / name, sha256, what=f"dataset {dataset.name!r}")
    except download.DownloadError as error:
        raise DatasetFilesError(_missing_message(dataset, data_dir, f"downloading it failed ({error})")) from None
    return target


def locate(name: str, data_dir=None, download: bool = True) -> Path:
    """The folder holding ``name``'s files: found locally, else downloaded when allowed."""
    dataset = DATASETS[name]
    folder = find(dataset, data_dir)
    if folder is not None:
        return folder
    if not download:
        raise DatasetFilesError(_missing_message(dataset, data_dir, "downloading is switched off"))
    return _download(dataset, data_dir)


# --- readers ---------------------------------------------------------------------------


def _corrupt(path, why: str) -> DatasetFilesError:
    return DatasetFilesError(f"dataset file {str(path)!r} is corrupt: {why}; delete it and provide it again")


def read_idx(path, magic: int) -> np.ndarray:
    """An IDX file (gzipped), checking its magic number and that its size matches its header."""
    try:
        with gzip.open(path, "rb") as stream:
            raw = stream.read()
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise _corrupt(path, f"not a readable gzip file ({error})") from None
    if len(raw) < 8:
        raise _corrupt(path, "too short for an IDX header")
    found, = struct.unpack(">i", raw[:4])
    if found != magic:
        raise _corrupt(path, f"magic number {found}, expected {magic}")
    dims = magic & 0xFF
    shape = struct.unpack(f">{dims}i", raw[4 : 4 + 4 * dims])
    body = raw[4 + 4 * dims :]
    expected = int(np.prod(shape))
    if len(body) != expected:
        raise _corrupt(path, f"header says {expected} bytes of data, file has {len(body)}")
    return np.frombuffer(body, np.uint8).reshape(shape)


def _read_pickle(path, keys) -> dict:
    try:
        with open(path, "rb") as stream:
            batch = pickle.load(stream, encoding="bytes")
    except Exception as error:  # noqa: BLE001  (unpickling errors come in many types)
        raise _corrupt(path, f"not a CIFAR batch ({type(error).__name__})") from None
    batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    if not all(key in batch for key in keys):
        raise _corrupt(path, f"missing {', '.join(k for k in keys if k not in batch)}")
    return batch


def _cifar_images(batch, path) -> np.ndarray:
    data = np.asarray(batch["data"], np.uint8)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise _corrupt(path, f"images have shape {data.shape}, expected (N, 3072)")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)


def read_split(name: str, split: str, folder: Path) -> tuple:
    """``(images uint8 [N, H, W, C], labels int32 [N])`` of one split from ``folder``."""
    dataset = DATASETS[name]
    if dataset.reader == Reader.IDX:
        prefix = "train" if split == "train" else "t10k"
        images = read_idx(folder / f"{prefix}-images-idx3-ubyte.gz", IDX_IMAGES_MAGIC)[..., None]
        labels = read_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", IDX_LABELS_MAGIC)
    elif dataset.reader == Reader.NPZ:
        path = folder / "mnist.npz"
        try:
            with np.load(path, allow_pickle=False) as arrays:
                images, labels = arrays[f"x_{split}"][..., None], arrays[f"y_{split}"]
        except Exception as error:  # noqa: BLE001
            raise _corrupt(path, f"not MNIST's npz ({type(error).__name__}: {error})") from None
    else:
        label_key = "labels" if dataset.reader == Reader.CIFAR10 else "fine_labels"
        names = [n for n in dataset.files if (n.startswith("data_batch") or n == "train") == (split == "train")]
        parts = [(_read_pickle(folder / n, ("data", label_key)), folder / n) for n in names]
        images = np.concatenate([_cifar_images(batch, path) for batch, path in parts])
        labels = np.concatenate([np.asarray(batch[label_key]) for batch, _ in parts])
    if len(images) != len(labels):
        raise _corrupt(folder, f"{len(images)} {split} images but {len(labels)} labels")
    return images.astype(np.uint8), labels.astype(np.int32)
