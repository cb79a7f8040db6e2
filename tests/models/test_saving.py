"""Every zoo model saves and loads back in each Keras format, without custom_objects.

Models are built at small inputs to keep this fast; every weight gets a random value
(shifts and PReLU slopes included), so a weight loaded into the wrong slot shows.
"""

import numpy as np
import pytest
import tensorflow as tf
from conftest import outputs, randomize_batch_norms

from dwr_larq import zoo

ALL = zoo.list_models()
# The ReActNet family holds every custom layer (RSign inside QuantConv2D, RPReLU with its
# two Shifts, ChannelAlign, RepeatChannels): all formats. The others: HDF5, the format
# published weights use.
REACT = [name for name in ALL if zoo.get_card(name).spec.block.startswith("reactnet")]
# SavedModel is slow (up to a minute a model) and each load keeps memory in the process
# for good (0.2 GB a ReActResNet20 round trip, more for larger ones): in the default suite only ReActResNet18DWR and
# ReActResNet18DWRLCE, which between them hold every layer kind of the family.
# The fast suite's .h5 round trips: eight cards that between them hold every layer kind,
# block kind and head of the zoo (a greedy cover, smallest models first, of each card's
# layer classes, spec.block and spec.head, computed 2026-12-03); every other card's .h5 is
# the slow suite's.
H5_COVER = {"ResNet20DWRLCE", "ReActResNet20", "ResNet20DWRAuthors", "VGGSmallDWRAuthors", "ResNet34DWR",
            "ReActResNet18DWR", "ReActNetADWR", "VGG11DWR"}
SLOW = {("ReActResNet18", "tf"), ("ReActNetA", "tf"), ("ReActNetADWR", "tf"), ("ReActNetADWRLCE", "tf"),
        # ReActNetA's layers are ReActNetADWR's.
        ("ReActNetA", "keras"),
        # ReActNetADWRLCE's layer kinds are ReActNetADWR's.
        ("ReActNetADWRLCE", "keras"),
        *((name, "h5") for name in ALL if name not in H5_COVER)}
# HardTanh (the authors' head conv) and the head's layers in the Keras format too.
EXTRA = {("ResNet20DWRAuthors", "keras")}
CASES = [
    pytest.param(name, fmt, marks=[pytest.mark.slow] if (name, fmt) in SLOW else [])
    for name in ALL
    for fmt in ("keras", "h5", "tf")
    if fmt == "h5" or name in REACT or (name, fmt) in EXTRA
]


def _random_model(name, rng):
    side = max(32, zoo.get_card(name).spec.downsampling)
    model = zoo.get_model(name, input_shape=(side, side, 3), num_classes=5)
    for variable in model.weights:
        variable.assign(rng.normal(0.0, 0.5, variable.shape).astype(np.float32))
    randomize_batch_norms(model, rng)  # positive variances
    return model, rng.uniform(-1, 1, (2, side, side, 3)).astype(np.float32)


def _kinds(model) -> list:
    return sorted({type(layer).__name__ for layer in model.submodules})


def test_the_react_family_is_covered_in_every_format():
    assert {"ReActResNet18", "ReActResNet18DWR", "ReActNetA", "ReActNetADWR"} <= set(REACT)


@pytest.mark.parametrize("name, fmt", CASES)
def test_a_zoo_model_round_trips_with_identical_predictions(name, fmt, tmp_path, rng):
    model, images = _random_model(name, rng)
    expected = outputs(model, images)
    path = str(tmp_path / {"keras": "model.keras", "h5": "model.h5", "tf": "saved_model"}[fmt])
    model.save(path, **({"save_format": "tf"} if fmt == "tf" else {}))
    loaded = tf.keras.models.load_model(path)
    np.testing.assert_allclose(outputs(loaded, images), expected, atol=1e-5)
    assert _kinds(loaded) == _kinds(model)  # our layers come back as themselves
    if fmt == "h5":  # weights alone, into a fresh model (what published weights are)
        weights = str(tmp_path / "weights.h5")
        model.save_weights(weights)
        fresh = zoo.get_model(name, input_shape=images.shape[1:], num_classes=5)
        fresh.load_weights(weights)
        np.testing.assert_allclose(outputs(fresh, images), expected, atol=1e-5)


def test_hdf5_weight_names_are_unique_within_each_layer(rng):
    """RPReLU's two shifts once both saved as '<layer>/bias' and h5py refused the file."""
    model, _ = _random_model("ReActResNet18DWR", rng)
    for layer in model.layers:
        names = [weight.name for weight in layer.weights]
        assert len(names) == len(set(names)), (layer.name, names)


def test_the_fast_h5_cover_names_zoo_cards():
    assert H5_COVER <= set(ALL)
