"""MNIST, Fashion-MNIST and CIFAR from Keras' own files: where they are found, downloads
through a loopback server, corrupt files, and (when Debian's package is installed) the
real Fashion-MNIST."""

import dataclasses
import gzip
import hashlib
import pickle
import struct
import tarfile

import numpy as np
import pytest

from dwr_larq.training import data, keras_datasets
from data_helpers import TEST, TRAIN, write_fashion
from weights_helpers import LoopbackServer

DEBIAN_FASHION = keras_datasets.DEBIAN_ROOT / "fashion-mnist"


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No Keras cache and no Debian folder unless a test makes them; downloads go to loopback."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("DWR_LARQ_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(keras_datasets, "DEBIAN_ROOT", tmp_path / "debian")
    monkeypatch.setattr(keras_datasets, "KERAS_ORIGIN", "http://127.0.0.1:9/")  # nothing listens: no network
    monkeypatch.setitem(
        keras_datasets.DATASETS, "fashion_mnist",
        dataclasses.replace(keras_datasets.DATASETS["fashion_mnist"], origin="http://127.0.0.1:9/"),
    )
    return tmp_path


def use_hashes(monkeypatch, hashes, origin=None):
    spec = keras_datasets.DATASETS["fashion_mnist"]
    monkeypatch.setitem(
        keras_datasets.DATASETS, "fashion_mnist", dataclasses.replace(spec, files=hashes, origin=origin or spec.origin)
    )


@pytest.mark.parametrize("place", ["data_dir", "data_dir_subfolder", "keras_cache", "debian"])
def test_files_are_found_in_each_of_the_three_places(isolated, place):
    folders = {
        "data_dir": isolated / "mine",
        "data_dir_subfolder": isolated / "mine" / "fashion-mnist",
        "keras_cache": isolated / "keras" / "datasets" / "fashion-mnist",
        "debian": isolated / "debian" / "fashion-mnist",
    }
    write_fashion(folders[place])
    (isolated / "mine").mkdir(exist_ok=True)
    source = data.source("fashion_mnist", data_dir=isolated / "mine")
    assert source.num_examples == {"train": TRAIN, "test": TEST}
    assert source.channels == 1 and source.image_size == 28 and source.num_classes == 10


def test_the_data_dir_wins_over_the_keras_cache(isolated):
    write_fashion(isolated / "mine", seed=1)
    write_fashion(isolated / "keras" / "datasets" / "fashion-mnist", seed=2)
    assert keras_datasets.find(keras_datasets.DATASETS["fashion_mnist"], isolated / "mine") == isolated / "mine"


def test_grey_stays_one_channel_unless_three_are_asked_for(isolated):
    write_fashion(isolated / "debian" / "fashion-mnist")
    source = data.source("fashion_mnist")
    grey, _ = next(iter(data.pipeline(source, "test", batch_size=TEST).dataset))
    rgb, _ = next(iter(data.pipeline(source, "test", batch_size=TEST, channels=3).dataset))
    assert grey.shape == (TEST, 28, 28, 1) and rgb.shape == (TEST, 28, 28, 3)
    np.testing.assert_allclose(rgb.numpy()[..., 1], grey.numpy()[..., 0])
    assert -1.0 <= grey.numpy().min() and grey.numpy().max() <= 1.0


def test_missing_everywhere_and_no_network_names_the_three_ways(isolated):
    with pytest.raises(ValueError) as error:
        data.source("fashion_mnist")
    message = str(error.value)
    assert "--data-dir" in message and "Keras' cache" in message and "apt-get install dataset-fashion-mnist" in message
    assert not (isolated / "keras" / "datasets" / "fashion-mnist").exists()


def test_a_download_lands_verified_in_dwr_larqs_cache(isolated, monkeypatch):
    served = isolated / "served"
    use_hashes(monkeypatch, write_fashion(served))
    server = LoopbackServer(served)
    try:
        use_hashes(monkeypatch, keras_datasets.DATASETS["fashion_mnist"].files, origin=server.url + "/")
        source = data.source("fashion_mnist")
    finally:
        server.stop()
    assert source.num_examples == {"train": TRAIN, "test": TEST}
    cached = isolated / "home" / "datasets" / "fashion-mnist"
    names = keras_datasets.DATASETS["fashion_mnist"].files
    assert sorted(p.name for p in cached.iterdir()) == sorted([*names, *(f".{name}.lock" for name in names)])
    assert len(server.requests) == 4
    assert not (isolated / "keras").exists()  # Keras' own cache is only read


def test_a_download_with_the_wrong_hash_caches_only_verified_files(isolated, monkeypatch):
    served = isolated / "served"
    hashes = write_fashion(served)
    hashes["t10k-labels-idx1-ubyte.gz"] = "0" * 64
    server = LoopbackServer(served)
    try:
        use_hashes(monkeypatch, hashes, origin=server.url + "/")
        with pytest.raises(ValueError, match="downloading it failed"):
            data.source("fashion_mnist")
    finally:
        server.stop()
    cached = isolated / "home" / "datasets" / "fashion-mnist"
    # Each file takes its name only once verified: the bad one is absent (no partial file either),
    # so the dataset is not found, and a retry downloads only what is missing.
    assert sorted(p.name for p in cached.iterdir() if not p.name.startswith(".")) == sorted(
        name for name in hashes if name != "t10k-labels-idx1-ubyte.gz"
    )
    assert not [p for p in cached.iterdir() if p.name.startswith(".") and not p.name.endswith(".lock")]
    assert keras_datasets.find(keras_datasets.DATASETS["fashion_mnist"]) is None


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda raw: raw[: len(raw) // 2], "not a readable gzip file"),
        (lambda raw: b"not gzip at all", "not a readable gzip file"),
        (lambda raw: gzip.compress(struct.pack(">i", 1234) + gzip.decompress(raw)[4:]), "magic number 1234, expected 2051"),
        (lambda raw: gzip.compress(gzip.decompress(raw)[:-5]), "header says"),
    ],
)
def test_corrupt_files_give_one_message_naming_the_file(isolated, damage, message):
    folder = isolated / "debian" / "fashion-mnist"
    write_fashion(folder)
    path = folder / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(ValueError, match=message) as error:
        data.source("fashion_mnist")
    assert str(path) in str(error.value)


def test_an_unknown_name_lists_close_matches():
    with pytest.raises(ValueError, match="did you mean fashion_mnist"):
        data.source("fashion_mnst")


def test_an_archive_is_downloaded_verified_and_extracted_in_one_rename(isolated, monkeypatch):
    pixels = np.random.default_rng(0).integers(0, 256, (2, 3072), dtype=np.uint8)
    served = isolated / "served"
    (served / "cifar-100-python").mkdir(parents=True)
    for name in ("train", "test"):
        with open(served / "cifar-100-python" / name, "wb") as stream:
            pickle.dump({b"data": pixels, b"fine_labels": [7, 99]}, stream)
    archive = served / "cifar-100-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(served / "cifar-100-python", arcname="cifar-100-python")
    server = LoopbackServer(served)
    spec = keras_datasets.DATASETS["cifar100"]
    served_as = {"origin": server.url + "/"}
    try:
        monkeypatch.setitem(keras_datasets.DATASETS, "cifar100", dataclasses.replace(spec, **served_as, archive_sha256="0" * 64))
        with pytest.raises(ValueError, match="downloading it failed .*not 0{64} as expected"):
            keras_datasets.locate("cifar100")
        real = hashlib.sha256(archive.read_bytes()).hexdigest()
        monkeypatch.setitem(keras_datasets.DATASETS, "cifar100", dataclasses.replace(spec, **served_as, archive_sha256=real))
        folder = keras_datasets.locate("cifar100")
    finally:
        server.stop()
    assert folder == isolated / "home" / "datasets" / "cifar-100-python"
    assert sorted(p.name for p in folder.iterdir()) == ["test", "train"]
    assert sorted(p.name for p in folder.parent.iterdir() if ".partial" in p.name) == []
    images, labels = keras_datasets.read_split("cifar100", "test", folder)
    assert images.shape == (2, 32, 32, 3) and labels.tolist() == [7, 99]


def test_mnist_npz_and_cifar_batches_are_read(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(
        tmp_path / "mnist.npz", x_train=rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
        y_train=np.arange(5, dtype=np.uint8), x_test=rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
        y_test=np.arange(3, dtype=np.uint8),
    )
    images, labels = keras_datasets.read_split("mnist", "test", tmp_path)
    assert images.shape == (3, 28, 28, 1) and labels.tolist() == [0, 1, 2]

    pixels = rng.integers(0, 256, (2, 3072), dtype=np.uint8)
    for name in ("train", "test"):
        with open(tmp_path / name, "wb") as stream:
            pickle.dump({b"data": pixels, b"fine_labels": [7, 99]}, stream)
    images, labels = keras_datasets.read_split("cifar100", "train", tmp_path)
    assert images.shape == (2, 32, 32, 3) and labels.tolist() == [7, 99]
    # channel-major rows become HWC images: the red plane is the first 1024 values
    np.testing.assert_array_equal(images[0, :, :, 0].ravel(), pixels[0, :1024])


@pytest.mark.skipif(
    not (DEBIAN_FASHION / "t10k-images-idx3-ubyte.gz").is_file(),
    reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist; .ci/run does it as root)",
)
def test_the_real_fashion_mnist_files_match_their_known_hashes_and_sizes():
    spec = keras_datasets.DATASETS["fashion_mnist"]
    for name, sha256 in spec.files.items():
        assert hashlib.sha256((DEBIAN_FASHION / name).read_bytes()).hexdigest() == sha256
    images, labels = keras_datasets.read_split("fashion_mnist", "test", DEBIAN_FASHION)
    assert images.shape == (10_000, 28, 28, 1) and sorted(set(labels.tolist())) == list(range(10))
    assert np.bincount(labels).tolist() == [1000] * 10
