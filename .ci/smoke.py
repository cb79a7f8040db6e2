"""CI's smoke check on a supported Python other than the machine's (the full suite runs
on that one): the command line lists the zoo, a model builds and converts with LCE, and
the shipped weights load and predict, in Keras and in LCE's interpreter."""

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np


def dwr_larq(*args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "dwr_larq.cli", *args], capture_output=True, text=True)
    if result.returncode:
        sys.exit(f"smoke: dwr-larq {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout


def main() -> None:
    assert "ResNet20DWRLCE" in dwr_larq("list").split(), "dwr-larq list lacks ResNet20DWRLCE"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ResNet20.tflite"
        dwr_larq("convert", "ResNet20", "-o", str(path))
        assert path.stat().st_size > 10_000, f"{path} is only {path.stat().st_size} bytes"

    from dwr_larq import zoo
    from dwr_larq.deploy import convert
    from dwr_larq.training import data, keras_datasets

    name, tag = "ResNet20DWRLCE", "fashion_mnist"
    trained = zoo.get_card(name).weights[tag].trained
    model = zoo.get_model(name, weights=tag)
    if keras_datasets.find(keras_datasets.DATASETS[tag]) is None:
        print(f"smoke: Fashion-MNIST not found, {name}'s weights predict on random images only")
        images = np.random.default_rng(0).uniform(-1, 1, (8, *model.input_shape[1:])).astype(np.float32)
        labels = None
    else:
        test = data.pipeline(data.source(tag), "test", batch_size=1000, image_size=trained["input_size"],
                             channels=trained["channels"])
        images, labels = next(iter(test.dataset))
        images, labels = images.numpy(), labels.numpy()
    keras = np.asarray(model(images, training=False))
    lite = convert.interpreter(convert.to_flatbuffer(model), num_threads=1).predict(images)
    assert np.allclose(keras.sum(-1), 1, atol=1e-3), "Keras outputs are not probabilities"
    agree = float(np.mean(np.argmax(keras, -1) == np.argmax(lite, -1)))
    assert agree >= 0.99, f"Keras and LCE agree on only {agree:.1%} of the images"
    if labels is not None:
        accuracy = float(np.mean(np.argmax(keras, -1) == labels))
        assert accuracy > trained["accuracy_keras"] - 0.03, f"{name} scores {accuracy:.2%} on 1,000 test images"
        print(f"smoke: {name} {accuracy:.2%} on the first 1,000 test images; LCE agrees on {agree:.1%}")
    print(f"smoke: Python {sys.version.split()[0]}: list, convert, shipped weights: all passed")


if __name__ == "__main__":
    main()
