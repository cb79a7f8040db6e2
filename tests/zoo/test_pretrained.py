"""Weights entries with their meta: listing, categories, preprocessing from raw images,
decoding predictions of any weights."""

import numpy as np
import pytest

from dwr_larq import zoo
from dwr_larq.models import categories
from dwr_larq.models.preprocessing import decode_predictions

FASHION = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


def test_list_pretrained_names_every_entry_of_every_card_and_filters():
    expected = [f"{name}.{tag}" for name in zoo.list_models() for tag in zoo.get_card(name).weights]
    assert zoo.list_pretrained() == expected
    assert {"ResNet20.fashion_mnist", "ResNet20DWR.fashion_mnist"} <= set(expected)
    assert zoo.list_pretrained("ResNet20DWR*") == [name for name in expected if name.startswith("ResNet20DWR")]
    assert zoo.list_pretrained("*.imagenet") == [name for name in expected if name.endswith(".imagenet")]


def test_every_entry_has_as_many_categories_as_its_top_has_classes():
    for name in zoo.list_pretrained():
        entry = zoo.pretrained(name)
        card = zoo.get_card(entry.model).weights[entry.tag]
        assert len(entry.categories) == card.num_classes
        assert entry.input_shape == (card.input_size, card.input_size, card.channels)


def test_the_fashion_mnist_entry_carries_classes_shape_metrics_and_recipe():
    entry = zoo.pretrained("ResNet20", "fashion_mnist")
    assert entry == zoo.pretrained("ResNet20.fashion_mnist")
    assert entry.name == "ResNet20.fashion_mnist" and entry.categories == FASHION
    trained = zoo.get_card("ResNet20").weights["fashion_mnist"].trained
    assert entry.input_shape == (trained["input_size"], trained["input_size"], trained["channels"])
    assert entry.metrics == {key: trained[key] for key in ("accuracy_keras", "accuracy_tflite", "test_images")}
    assert entry.recipe == trained["recipe"] and entry.command == trained["command"]


@pytest.mark.parametrize("args, message", [
    (("ResNet20", "imagenet"), "ResNet20 has no weights tagged 'imagenet'; its tags: fashion_mnist"),
    (("ResNet20",), "needs a tag"),
    (("ResNet2O.fashion_mnist",), "unknown model 'ResNet2O'"),
])
def test_unknown_entries_are_one_clear_error(args, message):
    with pytest.raises(ValueError, match=message):
        zoo.pretrained(*args)


def test_categories_of_the_datasets_in_label_order():
    assert categories.categories("fashion_mnist") == FASHION
    assert categories.categories("cifar10")[:3] == ("airplane", "automobile", "bird")
    fine = categories.categories("cifar100")
    assert len(fine) == len(set(fine)) == 100 and list(fine) == sorted(fine)  # CIFAR-100's fine labels are alphabetical
    assert len(categories.categories("imagenet")) == 1000
    with pytest.raises(ValueError, match="no class names known for dataset 'svhn'; known: cifar10, cifar100"):
        categories.categories("svhn")


def test_decode_predictions_names_the_classes_of_any_weights():
    scores = np.zeros((2, 10), np.float32)
    scores[0, [9, 7]] = [0.8, 0.15]
    scores[1, 1] = 1.0
    decoded = decode_predictions(scores, top=2, categories=FASHION)
    assert decoded[0] == [(9, "Ankle boot", pytest.approx(0.8)), (7, "Sneaker", pytest.approx(0.15))]
    assert decoded[1][0] == (1, "Trouser", 1.0)
    assert zoo.pretrained("ResNet20.fashion_mnist").decode_predictions(scores, top=1)[0] == [(9, "Ankle boot", pytest.approx(0.8))]
    with pytest.raises(ValueError, match=r"predictions over the 10 categories of shape \(samples, 10\), got shape \(2, 1000\)"):
        decode_predictions(np.zeros((2, 1000)), categories=FASHION)


def test_preprocess_takes_raw_uint8_images_of_any_batch_in_either_layout():
    entry = zoo.pretrained("ResNet20", "fashion_mnist")
    raw = np.random.default_rng(0).integers(0, 256, (3, 28, 28), dtype=np.uint8)
    batch = entry.preprocess(raw)
    assert batch.shape == (3, *entry.input_shape) and batch.dtype == np.float32
    assert -1.0 <= batch.min() and batch.max() <= 1.0
    np.testing.assert_array_equal(entry.preprocess(raw[..., None]), batch)
    np.testing.assert_array_equal(entry.preprocess(raw[1:2]), batch[1:2])
    with pytest.raises(ValueError, match=r"images must be a batch of shape \(N, H, W\)"):
        entry.preprocess(raw[0, 0])
