"""The Fashion-MNIST weights shipped in the package reproduce their cards' figures, as a
user loads them (``zoo.X(weights="fashion_mnist")``), on all 10,000 test images, in Keras
and converted in LCE's interpreter."""

import pytest

from dwr_larq import zoo
from dwr_larq.deploy.accuracy import keras_and_lce_accuracy
from dwr_larq.training import keras_datasets

TAG = "fashion_mnist"
SHIPPED = [name for name in zoo.list_models() if TAG in zoo.get_card(name).weights]
HAVE_DATA = keras_datasets.find(keras_datasets.DATASETS[TAG]) is not None


def test_resnet20_and_its_dwr_reshape_ship_trained_weights():
    assert {"ResNet20", "ResNet20DWR"} <= set(SHIPPED)
    for name in SHIPPED:
        entry = zoo.get_card(name).weights[TAG]
        assert entry.top.shipped and entry.no_top.shipped
        trained = entry.trained
        assert trained["test_images"] == 10_000 and trained["train_images"] == 60_000
        assert trained["command"].startswith(f"dwr-larq train {name} --dataset {TAG}")


@pytest.mark.skipif(not HAVE_DATA, reason="Fashion-MNIST not found (apt-get install dataset-fashion-mnist, "
                                          "Keras' cache or --data-dir; .ci/run installs it as root)")
@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_weights_reproduce_the_cards_accuracy_in_keras_and_lce(name):
    """As a user would: the raw uint8 test images through the entry's own ``preprocess``."""
    entry = zoo.pretrained(name, TAG)
    model = entry.build()
    assert model.input_shape[1:] == entry.input_shape
    images, labels = keras_datasets.read_split(TAG, "test", keras_datasets.locate(TAG, None))
    inputs = entry.preprocess(images[..., 0])  # (N, 28, 28), as fashion_mnist.load_data() gives them
    measured = keras_and_lce_accuracy(model, (inputs, labels), workers=1)  # the suite's other worker has the other core
    assert measured["test_images"] == entry.metrics["test_images"] == 10_000
    assert measured["accuracy_keras"] == pytest.approx(entry.metrics["accuracy_keras"], abs=0.001)
    assert measured["accuracy_tflite"] == pytest.approx(entry.metrics["accuracy_tflite"], abs=0.001)
