"""The Fashion-MNIST weights shipped in the package reproduce their cards' figures, as a
user loads them (``zoo.X(weights="fashion_mnist")``), on all 10,000 test images, in Keras
and converted in LCE's interpreter."""

import pytest

from dwr_larq import zoo
from dwr_larq.deploy import convert
from dwr_larq.training import data, evaluate, keras_datasets

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
    trained = zoo.get_card(name).weights[TAG].trained
    model = zoo.get_model(name, weights=TAG)
    assert model.input_shape[1:] == (trained["input_size"], trained["input_size"], trained["channels"])
    test = data.pipeline(data.source(TAG), "test", batch_size=500, image_size=trained["input_size"],
                         channels=trained["channels"])
    keras = evaluate.keras_accuracy(model, test)
    lite = evaluate.tflite_accuracy(convert.to_flatbuffer(model), test)
    assert keras["images"] == lite["images"] == 10_000
    assert keras["accuracy"] == pytest.approx(trained["accuracy_keras"], abs=0.001)
    assert lite["accuracy"] == pytest.approx(trained["accuracy_tflite"], abs=0.001)
