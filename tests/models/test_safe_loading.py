"""Whole model files from anywhere load in safe mode: a Lambda layer, a class from another
package or a SavedModel is refused, naming the layer and the opt-in; the zoo's own layers load."""

import json

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner
from conftest import outputs, tiny_card

from dwr_larq import zoo
from dwr_larq.cli.main import main
from dwr_larq.models import loading
from dwr_larq.training import evaluate

SUFFIXES = [".keras", ".h5"]


@tf.keras.utils.register_keras_serializable(package="thirdparty")
class Foreign(tf.keras.layers.Layer):
    """A layer some other package registered: safe mode must not build it from a file."""

    def call(self, inputs):
        return inputs


@pytest.fixture
def card(tmp_path):
    path = tmp_path / "tinyreact.json"
    path.write_text(json.dumps(tiny_card(name="TinyReAct", block="reactnet_a")))
    return str(path)


@pytest.fixture
def marker(tmp_path):
    return tmp_path / "code-ran"


def _evil(tmp_path, marker, suffix, middle="lambda"):
    """A 10-class model for 16x16x3 images whose layer "evil" creates ``marker`` when it runs,
    which Keras does while rebuilding the model on load."""
    inputs = tf.keras.Input((16, 16, 3))
    if middle == "lambda":
        touch = eval(f"lambda x: (__import__('pathlib').Path({str(marker)!r}).touch(), x)[1]")  # noqa: S307
        x = tf.keras.layers.Lambda(touch, name="evil")(inputs)
    else:
        x = Foreign(name="evil")(inputs)
    outputs = tf.keras.layers.Dense(10, activation="softmax", name="logits")(tf.keras.layers.Flatten()(x))
    path = tmp_path / f"evil{suffix}"
    tf.keras.Model(inputs, outputs).save(str(path))
    marker.unlink(missing_ok=True)  # building it ran the code once
    return path


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_the_zoos_own_layers_load_in_safe_mode(tmp_path, card, suffix, rng):
    model = zoo.get_model(card)
    assert {"QuantConv2D", "RPReLU", "RepeatChannels"} <= {type(layer).__name__ for layer in model.layers}
    path = tmp_path / f"model{suffix}"
    model.save(str(path))
    images = rng.uniform(-1, 1, (2, 16, 16, 3)).astype(np.float32)
    loaded = loading.load_model(path)
    np.testing.assert_allclose(outputs(loaded, images), outputs(model, images), atol=1e-6)


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("middle, what", [("lambda", "a Lambda layer"), ("foreign", "'thirdparty>Foreign' from")])
def test_code_in_a_model_file_is_refused_naming_the_layer_and_the_opt_in(tmp_path, marker, suffix, middle, what):
    path = _evil(tmp_path, marker, suffix, middle)
    with pytest.raises(loading.UnsafeModelError) as error:
        loading.load_model(path)
    message = str(error.value)
    assert f"refusing to load {str(path)!r}: layer 'evil' is {what}" in message
    assert "--unsafe" in message and "safe_mode=False" in message
    assert not marker.exists()
    model = loading.load_model(path, safe_mode=False)  # the opt-in loads it, and the danger was real
    assert model.get_layer("evil") is not None and marker.exists() == (middle == "lambda")


def test_a_saved_model_folder_is_refused_unless_trusted(tmp_path):
    inputs = tf.keras.Input((4,))
    path = tmp_path / "saved"
    tf.keras.Model(inputs, tf.keras.layers.Dense(2)(inputs)).save(str(path), save_format="tf")
    with pytest.raises(loading.UnsafeModelError, match="is a TensorFlow SavedModel.*--unsafe.*safe_mode=False"):
        evaluate.load_keras(path)
    with loading.trusting_files():
        assert evaluate.load_keras(path).output_shape == (None, 2)
    with pytest.raises(loading.UnsafeModelError):  # the scope ended
        evaluate.load_keras(path)


def run(*args):
    return CliRunner().invoke(main, [str(arg) for arg in args])


def test_the_cli_refuses_in_one_line_and_unsafe_opts_in(tmp_path, marker, card):
    path = _evil(tmp_path, marker, ".keras")
    for command in (["evaluate", path, "--dataset", "digits"], ["convert", path, "-o", tmp_path / "evil.tflite"],
                    ["train", card, "--dataset", "digits", "--epochs", 2, "--batch-size", 8, "--teacher", path, "--out", tmp_path / "run"]):
        result = run(*command)
        assert result.exit_code == 1, result.output
        assert result.output.startswith(f"Error: refusing to load {str(path)!r}: layer 'evil' is a Lambda layer")
        assert "--unsafe" in result.output and "Traceback" not in result.output
    assert not marker.exists() and not (tmp_path / "evil.tflite").exists() and not (tmp_path / "run").exists()
    result = run("evaluate", path, "--dataset", "digits", "--unsafe")
    assert result.exit_code == 0, result.output
    assert "(keras) on digits: accuracy" in result.output and marker.exists()


def test_weights_files_are_read_as_arrays_and_never_run(tmp_path, marker, card):
    """``weights=PATH`` reads weights only: a full model file holding code is compared layer by layer,
    never rebuilt, so its Lambda cannot run; a weights-only .h5 loads as before."""
    path = _evil(tmp_path, marker, ".h5")
    with pytest.raises(ValueError, match="does not fit"):
        zoo.get_model(card, weights=str(path))
    assert not marker.exists()
    weights = tmp_path / "weights.h5"
    zoo.get_model(card).save_weights(str(weights))
    assert zoo.get_model(card, weights=str(weights)).name
