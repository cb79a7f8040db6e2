"""Input pipelines: the embedded digits set, image folders, tfds (mocked, nothing downloaded)."""

import re

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from data_helpers import write_pngs
from dwr_larq.training import data


def test_digits_is_a_fixed_stratified_split_of_rgb_images_in_minus_one_one():
    train_x, train_y = data.digits("train")
    test_x, test_y = data.digits("test")
    assert train_x.shape == (1437, 32, 32, 3) and test_x.shape == (360, 32, 32, 3)
    assert train_x.dtype == np.float32 and train_y.dtype == np.int32
    assert train_x.min() == -1.0 and train_x.max() == 1.0
    np.testing.assert_array_equal(train_x[..., 0], train_x[..., 2])  # grey copied to RGB
    # Stratified: each digit's share of the test split is its share of the whole set.
    whole = np.bincount(np.concatenate([train_y, test_y]))
    assert np.all(np.abs(np.bincount(test_y) - whole * 360 / 1797) <= 1)
    again_x, again_y = data.digits("test")
    np.testing.assert_array_equal(again_x, test_x)
    np.testing.assert_array_equal(again_y, test_y)
    again_x[0] = 0  # copies: a caller cannot corrupt the cache
    assert data.digits("test")[0][0].min() == -1.0


def test_digits_other_sizes_and_bad_arguments():
    assert data.digits("test", image_size=16)[0].shape == (360, 16, 16, 3)
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        data.digits("validation")
    with pytest.raises(ValueError, match="image_size must be an integer >= 8"):
        data.digits("train", image_size=4)


def test_digits_pipelines_augment_training_only():
    test = data.load("digits", "test", batch_size=100)
    images, labels = data.as_arrays(test)
    expected_x, expected_y = data.digits("test")
    np.testing.assert_allclose(images, expected_x, atol=1e-6)
    np.testing.assert_array_equal(labels, expected_y)
    assert (test.steps, test.num_classes, test.num_examples) == (4, 10, 360)

    train = data.load("digits", "train", batch_size=64)
    batch, batch_labels = next(iter(train.dataset))
    assert batch.shape == (64, 32, 32, 3) and batch.dtype == tf.float32 and batch_labels.dtype == tf.int32
    assert -1.0 <= float(tf.reduce_min(batch)) and float(tf.reduce_max(batch)) <= 1.0
    # Pad-and-crop shifts digits: training images are not the stored ones.
    train_x, _ = data.digits("train")
    matches = [np.any(np.all(np.isclose(image, train_x), axis=(1, 2, 3))) for image in batch.numpy()]
    assert not all(matches)


def test_digits_per_class_keeps_the_first_n_training_images_of_each_digit_and_the_whole_test_split():
    few = data.source("digits:5-per-class")
    assert few.name == "digits:5-per-class" and few.num_examples == {"train": 50, "test": 360}
    images, labels = data.as_arrays(data.pipeline(few, "train", batch_size=64, training=False))
    assert np.bincount(labels).tolist() == [5] * 10
    train_x, train_y = data.digits("train")
    first = np.sort(np.concatenate([np.flatnonzero(train_y == digit)[:5] for digit in range(10)]))
    np.testing.assert_allclose(images, train_x[first], atol=1e-6)
    np.testing.assert_array_equal(labels, train_y[first])
    test_x = data.as_arrays(data.pipeline(few, "test", batch_size=100))[0]
    np.testing.assert_allclose(test_x, data.digits("test")[0], atol=1e-6)


@pytest.mark.parametrize("name, message", [
    ("digits:0-per-class", "digits' training images per class must be an integer from 1 to 139, got 0"),
    ("digits:140-per-class", "from 1 to 139, got 140"),
    ("digits:five", "fewer digits are named digits:N-per-class, e.g. digits:5-per-class"),
])
def test_digits_per_class_refuses_counts_it_cannot_give(name, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        data.source(name)


def test_batch_size_must_be_positive():
    with pytest.raises(ValueError, match="batch size must be an integer >= 1, got 0"):
        data.load("digits", batch_size=0)


def test_transforms_give_the_requested_size():
    image = tf.random.uniform((50, 80, 3), 0, 255)
    assert data.random_resized_crop(image, 24).shape == (24, 24, 3)
    assert data.resize_centre_crop(image, 24).shape == (24, 24, 3)
    assert data.pad_random_crop(image, 24, 3).shape == (24, 24, 3)
    # Centre crop of a uniform-by-column image keeps the middle columns.
    ramp = tf.tile(tf.reshape(tf.range(80, dtype=tf.float32), (1, 80, 1)), (50, 1, 3))
    crop = data.resize_centre_crop(ramp, 32, crop_fraction=1.0)
    assert abs(float(tf.reduce_mean(crop)) - 39.5) < 1.0


def test_folder_holds_out_every_fifth_image_of_each_class(tmp_path):
    write_pngs(tmp_path, {"cat": 10, "dog": 5, "owl": 5})
    source = data.source(f"folder:{tmp_path}", image_size=16)
    assert source.num_classes == 3 and source.num_examples == {"train": 16, "test": 4}
    test = data.pipeline(source, "test", batch_size=3, image_size=16)
    images, labels = data.as_arrays(test)
    assert images.shape == (4, 16, 16, 3) and -1.0 <= images.min() and images.max() <= 1.0
    assert sorted(labels.tolist()) == [0, 0, 1, 2]
    train = data.pipeline(source, "train", batch_size=8, image_size=16)
    assert sum(len(y) for _, y in train.dataset) == 16


def test_folder_with_train_and_test_subfolders(tmp_path):
    write_pngs(tmp_path / "train", {"a": 3, "b": 2})
    write_pngs(tmp_path / "test", {"a": 1, "b": 1})
    source = data.source(f"folder:{tmp_path}", image_size=96)
    assert source.num_examples == {"train": 5, "test": 2} and source.policy.kind == "inception"
    images, labels = data.as_arrays(data.pipeline(source, "test", batch_size=4, image_size=96))
    assert images.shape == (2, 96, 96, 3) and labels.tolist() == [0, 1]


@pytest.mark.parametrize(
    "layout, message",
    [
        ({}, "has no images"),
        ({"only": 3}, "has only one class \\('only'\\)"),
        ({"a": 2, "b": 1}, "too few images to hold out a test split"),
    ],
)
def test_folder_errors(tmp_path, layout, message):
    write_pngs(tmp_path, layout)
    with pytest.raises(ValueError, match=message):
        data.source(f"folder:{tmp_path}")


def test_folder_missing_or_mismatched(tmp_path):
    with pytest.raises(ValueError, match="does not exist or is not a directory"):
        data.source(f"folder:{tmp_path / 'nowhere'}")
    write_pngs(tmp_path / "train", {"a": 1, "b": 1})
    write_pngs(tmp_path / "test", {"a": 1, "c": 1})
    with pytest.raises(ValueError, match="train classes \\['a', 'b'\\] differ from test classes"):
        data.source(f"folder:{tmp_path}")


def test_unknown_dataset_names_close_matches():
    with pytest.raises(ValueError, match="unknown dataset 'cifar11'; did you mean .*cifar10"):
        data.source("cifar11")


def test_data_dir_without_the_prepared_dataset(tmp_path):
    with pytest.raises(ValueError, match=r"dataset 'svhn_cropped' is not prepared in .*tfds build svhn_cropped"):
        data.source("svhn_cropped", data_dir=str(tmp_path))
    with pytest.raises(ValueError, match="does not exist or is not a directory"):
        data.source("cifar10", data_dir=str(tmp_path / "missing"))


def _fake_prepare(data_dir, name, splits):
    """Write a dataset's metadata (no examples) so tfds sees it as prepared in ``data_dir``."""
    builder = tfds.builder(name, data_dir=str(data_dir))
    infos = [
        tfds.core.SplitInfo(
            name=split,
            shard_lengths=[count],
            num_bytes=0,
            filename_template=tfds.core.ShardedFileTemplate(
                data_dir=builder.data_path, template="{DATASET}-{SPLIT}.{FILEFORMAT}-{SHARD_X_OF_Y}",
                dataset_name=name, split=split, filetype_suffix="tfrecord",
            ),
        )
        for split, count in splits.items()
    ]
    builder.info.set_splits(tfds.core.SplitDict(infos))
    builder.data_path.mkdir(parents=True)
    builder.info.write_to_directory(builder.data_path)


def test_tfds_pipelines_on_mocked_prepared_datasets(tmp_path):
    _fake_prepare(tmp_path, "cifar10", {"train": 12, "test": 6})
    _fake_prepare(tmp_path, "imagenet2012", {"train": 12, "validation": 6})
    with tfds.testing.mock_data(num_examples=12, data_dir=str(tmp_path), policy=tfds.testing.MockPolicy.USE_FILES):
        cifar = data.source("cifar10", data_dir=str(tmp_path))
        assert (cifar.num_classes, cifar.image_size, cifar.policy.kind) == (10, 32, "pad_crop")
        assert cifar.num_examples == {"train": 12, "test": 6}
        images, labels = next(iter(data.pipeline(cifar, "train", batch_size=8).dataset))
        assert images.shape == (8, 32, 32, 3) and labels.dtype == tf.int32
        imagenet = data.source("imagenet2012", data_dir=str(tmp_path))
        assert (imagenet.num_classes, imagenet.image_size, imagenet.policy.kind) == (1000, 224, "inception")
        for split in ("train", "test"):
            images, _ = next(iter(data.pipeline(imagenet, split, batch_size=4, image_size=48).dataset))
            assert images.shape == (4, 48, 48, 3)
            assert -1.0 <= float(tf.reduce_min(images)) and float(tf.reduce_max(images)) <= 1.0
