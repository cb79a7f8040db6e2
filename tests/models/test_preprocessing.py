"""ImageNet helpers: packaged class names in label order, decode_predictions, preprocess_input."""

from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import dwr_larq
from dwr_larq.training import data
from dwr_larq.models import preprocessing


def test_the_packaged_classes_follow_tfds_imagenet2012_label_order():
    import tensorflow_datasets as tfds

    labels = Path(tfds.__file__).parent / "datasets" / "imagenet2012" / "labels.txt"
    assert preprocessing.wnids() == labels.read_text().split()
    assert preprocessing.wnids() == sorted(preprocessing.wnids()) and len(set(preprocessing.wnids())) == 1000


def test_class_names_are_first_lemmas_named_as_keras_names_them():
    """keras.applications and larq-zoo join words with underscores and keep WordNet's case."""
    names = preprocessing.class_names()
    assert len(names) == 1000
    assert names[:3] == ["tench", "goldfish", "great_white_shark"]
    assert names[386] == "African_elephant" and names[999] == "toilet_tissue"
    assert names[607] == "jack-o'-lantern" and names[859] == "toaster"
    assert not [name for name in names if not name or any(c.isspace() for c in name)]


def test_the_class_file_is_package_data_with_its_provenance():
    text = resources.files("dwr_larq.models").joinpath(preprocessing.CLASSES_FILE).read_text()
    assert "timm" in text and "Apache-2.0" in text and "WordNet" in text


def test_decode_predictions_returns_the_top_classes_best_first():
    scores = np.zeros((2, 1000), np.float32)
    scores[0, [9, 1, 999]] = [0.2, 0.7, 0.1]
    scores[1, 0] = 1.0
    decoded = dwr_larq.decode_predictions(scores, top=3)
    assert [wnid for wnid, _, _ in decoded[0]] == ["n01443537", "n01518878", "n15075141"]
    assert [name for _, name, _ in decoded[0]] == ["goldfish", "ostrich", "toilet_tissue"]
    assert [score for _, _, score in decoded[0]] == pytest.approx([0.7, 0.2, 0.1])
    assert decoded[1][0] == ("n01440764", "tench", 1.0) and len(decoded[1]) == 3
    assert len(dwr_larq.decode_predictions(tf.constant(scores))[0]) == 5  # tensors too, top=5 by default


@pytest.mark.parametrize("shape", [(1000,), (2, 10), (1, 1000, 1)])
def test_decode_predictions_rejects_other_shapes(shape):
    with pytest.raises(ValueError, match=rf"shape \(samples, 1000\), got shape \({shape[0]}"):
        dwr_larq.decode_predictions(np.zeros(shape))


@pytest.mark.parametrize("top", [0, 1001, 2.5, True])
def test_decode_predictions_rejects_a_bad_top(top):
    with pytest.raises(ValueError, match="top must be an integer from 1 to 1000"):
        dwr_larq.decode_predictions(np.zeros((1, 1000)), top=top)


# Pixel values and their [-1, 1] images, worked out by hand: 0 -> -1, 255 -> 1, 51 = 255/5 -> -0.6.
PIXELS = [0, 51, 102, 127.5, 153, 204, 255]
SCALED = [-1.0, -0.6, -0.2, 0.0, 0.2, 0.6, 1.0]


def test_preprocess_input_maps_0_255_to_minus_one_one():
    pixels = np.array([PIXELS], dtype=np.float64)
    scaled = dwr_larq.preprocess_input(pixels)
    assert scaled.dtype == np.float32
    np.testing.assert_allclose(scaled, [SCALED], atol=1e-6)
    assert pixels[0, 0] == 0  # the input is not modified

    tensor = dwr_larq.preprocess_input(tf.constant([PIXELS]))
    assert tensor.dtype == tf.float32
    np.testing.assert_allclose(tensor.numpy(), [SCALED], atol=1e-6)
    uint8 = dwr_larq.preprocess_input(tf.constant([[0, 51, 255]], dtype=tf.uint8))
    np.testing.assert_allclose(uint8.numpy(), [[-1.0, -0.6, 1.0]], atol=1e-6)


def test_the_training_pipelines_scale_pixels_the_same_way():
    """scale_pixels, which the pipelines apply, against the hand-worked values."""
    np.testing.assert_allclose(data.scale_pixels(np.array(PIXELS, np.float32)), SCALED, atol=1e-6)
    images = np.random.default_rng(0).integers(0, 256, (2, 8, 8, 3), dtype=np.uint8)
    expected = (images.astype(np.float64) - 127.5) / 127.5
    np.testing.assert_allclose(dwr_larq.preprocess_input(images), expected, atol=1e-6)


def test_preprocessed_pixels_are_what_the_digits_pipeline_feeds():
    """The embedded digits are stored in [0, 255]: preprocess_input gives the pipeline's images."""
    raw, _ = data._digits_pixels(32)["test"]
    images, _ = data.digits("test")
    np.testing.assert_allclose(dwr_larq.preprocess_input(raw), images)
