"""The builder's input shapes and its independence from keras.json's image data format."""

import numpy as np
import pytest
import tensorflow as tf

from dwr_larq import zoo
from dwr_larq.models import builder
from conftest import outputs


@pytest.fixture
def channels_first():
    """keras.json saying channels_first, restored after the test."""
    previous = tf.keras.backend.image_data_format()
    tf.keras.backend.set_image_data_format("channels_first")
    yield
    tf.keras.backend.set_image_data_format(previous)


def _in_format(data_format, build):
    previous = tf.keras.backend.image_data_format()
    tf.keras.backend.set_image_data_format(data_format)
    try:
        return build()
    finally:
        tf.keras.backend.set_image_data_format(previous)


@pytest.mark.parametrize("name", ["ResNet20DWR", "ResNet18DWR", "ReActNetADWR"])
def test_channels_first_in_keras_json_builds_the_channels_last_model(name, channels_first, rng):
    """ResNet20DWR once built another network under channels_first, ResNet18DWR crashed in ChannelAlign."""
    first = zoo.get_model(name, input_shape=(32, 32, 3))
    assert tf.keras.backend.image_data_format() == "channels_first"  # left as it was
    last = _in_format("channels_last", lambda: zoo.get_model(name, input_shape=(32, 32, 3)))
    assert [w.shape for w in first.weights] == [w.shape for w in last.weights]
    assert first.output_shape == last.output_shape == (None, zoo.get_card(name).num_classes)
    last.set_weights(first.get_weights())
    images = rng.uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(outputs(first, images), outputs(last, images), atol=1e-5)
    formats = {layer.get_config().get("data_format") for layer in first.submodules if hasattr(layer, "get_config")}
    assert "channels_first" not in formats


def test_a_model_saved_channels_last_loads_under_channels_first(tmp_path, rng):
    """Layers made when a model loads (ChannelAlign's depthwise conv) are channels-last too."""
    model = zoo.ResNet18DWR(input_shape=(32, 32, 3), num_classes=4)
    path = str(tmp_path / "model.keras")
    model.save(path)
    images = rng.uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    loaded = _in_format("channels_first", lambda: tf.keras.models.load_model(path))
    np.testing.assert_allclose(outputs(loaded, images), outputs(model, images), atol=1e-5)


def test_without_top_the_default_input_takes_any_size(rng):
    """Like keras.applications and larq-zoo: a feature extractor is (None, None, 3)."""
    features = zoo.ResNet18DWR(include_top=False)
    assert features.input_shape == (None, None, None, 3)
    for side in (32, 64):
        assert outputs(features, rng.normal(size=(1, side, side, 3)).astype(np.float32)).shape == (
            1, side // 32, side // 32, 866
        )
    assert zoo.ResNet20DWR().input_shape == (None, 32, 32, 3)  # with the top, the card's size
    assert zoo.ResNet20DWR(include_top=False, input_shape=(40, 40, 1)).input_shape == (None, 40, 40, 1)


def test_check_input_shape_defaults():
    spec = zoo.get_card("ResNet20DWR").spec
    assert builder.check_input_shape(None, spec) == (32, 32, 3)
    assert builder.check_input_shape(None, spec, include_top=False) == (None, None, 3)
    assert builder.check_input_shape([24, 24, 2], spec, include_top=False) == (24, 24, 2)


def _fresh_layer_name() -> str:
    return tf.keras.layers.Dense(1).name  # Keras numbers layer names per session: "dense" right after a clear


@pytest.mark.parametrize("fails", ["never", "building", "measuring"])
def test_measuring_a_spec_always_clears_the_session(fails):
    from dwr_larq.models.builder import measure_at_size, measure_then_clear
    from dwr_larq.models.spec import BackboneSpec, StemSpec

    spec = BackboneSpec(block="bireal", depths=[1], widths=[8], strides=[1], stem=StemSpec(width=8), input_size=8)
    _fresh_layer_name(), _fresh_layer_name()  # the session now holds dense and dense_1

    def measure(model):
        if fails == "measuring":
            raise RuntimeError("measure failed")
        return model.input_shape

    if fails == "building":
        with pytest.raises(RuntimeError, match="build failed"):
            measure_then_clear(lambda: (_ for _ in ()).throw(RuntimeError("build failed")), measure)
    elif fails == "measuring":
        with pytest.raises(RuntimeError, match="measure failed"):
            measure_at_size(spec, measure, input_size=12)
    else:
        assert measure_at_size(spec, measure, input_size=12, channels=1) == (None, 12, 12, 1)
    assert _fresh_layer_name() == "dense"
