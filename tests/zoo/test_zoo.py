import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from dwr_larq import zoo
from dwr_larq.zoo.cards import card_files
from conftest import outputs

PUBLISHED = {
    "BiRealResNet18": ("bireal", [4, 4, 4, 4], [64, 128, 256, 512], 1000),
    "ResNet18DWR": ("bireal", [2, 2, 2, 2], [96, 168, 378, 866], 1000),
    "ReActResNet18": ("reactnet", [4, 4, 4, 4], [64, 128, 256, 512], 1000),
    "ReActResNet18DWR": ("reactnet", [2, 2, 2, 2], [116, 188, 408, 910], 1000),
    "ResNet18CIFAR": ("basic", [2, 2, 2, 2], [64, 128, 256, 512], 10),
    "ResNet18CIFARDWR": ("basic", [1, 1, 1, 1], [120, 222, 290, 458], 10),
    "ResNet20": ("basic", [3, 3, 3], [16, 32, 64], 10),
    "ResNet20DWR": ("basic", [1, 1, 1], [16, 78, 134], 10),
    "VGGSmall": ("vgg", [1, 1, 1, 1, 1], [128, 256, 256, 512, 512], 10),
    # As the DWR authors' code builds them (tests/models/test_authors_architectures.py).
    "ResNet20DWRAuthors": ("basic", [1, 1, 1], [16, 78, 134], 10),
    "ReActResNet20": ("react_basic", [3, 3, 3], [16, 32, 64], 10),
    "ReActResNet20DWR": ("react_basic", [1, 1, 1], [30, 86, 154], 10),
    "VGG11": ("vgg", [1] * 7, [128, 256, 256, 512, 512, 512, 512], 10),
    "VGG11DWR": ("vgg", [1] * 5, [144, 390, 842, 418, 512], 10),
    "VGGSmallDWRAuthors": ("vgg", [1, 1, 1, 1, 1], [106, 252, 256, 512, 512], 10),
    "VGGSmallDWR": ("vgg", [1, 1, 1, 1, 1], [106, 252, 256, 512, 512], 10),
    "BiRealResNet34": ("bireal", [6, 8, 12, 6], [64, 128, 256, 512], 1000),
    "ReActNetA": ("reactnet_a", [1, 2, 2, 6, 2], [64, 128, 256, 512, 1024], 1000),
}
# Zoo entries made by `dwr-larq reshape`: their widths come from the algorithm.
RESHAPED = {"ResNet34DWR": "BiRealResNet34", "ReActNetADWR": "ReActNetA"}
# LCE-tuned reshapes written by scripts/lce_cards.py (tests/deploy/test_arm_cost.py checks their bounds).
TUNED = {"ResNet20DWRLCE": "ResNet20", "ResNet18CIFARDWRLCE": "ResNet18CIFAR", "ResNet18DWRLCE": "BiRealResNet18",
         "ReActResNet18DWRLCE": "ReActResNet18", "ResNet34DWRLCE": "BiRealResNet34", "ReActNetADWRLCE": "ReActNetA",
         "VGGSmallDWRLCE": "VGGSmall"}
# Equal-cost cards written by scripts/equal_cost_cards.py: name -> (the layout they keep, the card whose ARM cost they match).
EQUAL_COST = {"ResNet20DWREqualARM": ("ResNet20DWRLCE", "ResNet20")}
ALL = [*PUBLISHED, *RESHAPED, *TUNED, *EQUAL_COST]


def small_side(name):
    return zoo.get_card(name).spec.downsampling


def test_the_zoo_has_the_published_models_with_their_configurations():
    assert sorted(zoo.list_models()) == sorted(ALL)
    for name, (block, depths, widths, classes) in PUBLISHED.items():
        spec = zoo.get_card(name).spec
        assert (spec.block, list(spec.depths), list(spec.widths), spec.head.num_classes) == (block, depths, widths, classes)
        assert callable(getattr(zoo, name)) and name in zoo.__all__


def test_cards_ship_with_the_package():
    assert len(card_files()) == len(ALL)


@pytest.mark.parametrize("name, source", sorted(TUNED.items()))
def test_tuned_entries_say_how_they_were_made(name, source):
    card = zoo.get_card(name)
    assert card.source["kind"] == "dwr-lce" and card.source["reshaped_from"] == source
    assert {"s", "divisor", "shortcut", "search", "budget", "tolerance", "made_by"} <= set(card.source)
    assert card.spec.shortcut == card.source["shortcut"]
    assert {"binary_macs_vs_source", "activations_vs_source", "arm_vs_source", "arm_instructions"} <= set(card.figures)


@pytest.mark.parametrize("name, layout, cost", [(name, *pair) for name, pair in sorted(EQUAL_COST.items())])
def test_equal_cost_entries_keep_their_layout_and_say_how_they_were_made(name, layout, cost):
    card = zoo.get_card(name)
    assert card.source["kind"] == "equal-cost" and (card.source["layout_from"], card.source["matched_to"]) == (layout, cost)
    assert {"budget", "tolerance", "divisor", "shortcut", "why", "made_by"} <= set(card.source)
    assert card.spec == zoo.get_card(layout).spec.replace(widths=card.spec.widths)  # only the widths change
    assert card.spec.shortcut == card.source["shortcut"] and all(w % card.source["divisor"] == 0 for w in card.spec.widths)
    assert abs(card.figures["arm_vs_source"] - 1) <= card.source["tolerance"]


@pytest.mark.parametrize("name, source", sorted(RESHAPED.items()))
def test_reshaped_entries_carry_their_provenance(name, source):
    card = zoo.get_card(name)
    original = zoo.get_card(source).spec
    assert card.source["kind"] == "dwr" and card.source["reshaped_from"] == source
    assert {"s", "eps", "min_samples", "calibration_images", "dataset", "stages", "searched_widths"} <= set(card.source)
    assert sum(card.spec.depths) < sum(original.depths)
    assert card.spec.block == original.block


def test_list_models_filters_by_pattern():
    assert zoo.list_models("*DWR") == [
        "ResNet18DWR", "ReActResNet18DWR", "ResNet18CIFARDWR", "ResNet20DWR", "VGGSmallDWR", "ResNet34DWR", "ReActNetADWR",
        "ReActResNet20DWR", "VGG11DWR",
    ]


@pytest.mark.parametrize("name", sorted(ALL))
def test_every_model_builds_with_and_without_top(name, rng):
    spec = zoo.get_card(name).spec
    side = spec.downsampling * 2
    features = zoo.get_model(name, include_top=False, input_shape=(side, side, 3))
    assert features.output_shape == (None, 2, 2, spec.widths[-1])
    model = zoo.get_model(name, input_shape=(side, side, 3))
    assert model.output_shape == (None, spec.head.num_classes)
    probabilities = outputs(model, rng.normal(size=(2, side, side, 3)).astype(np.float32))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("channels", [1, 4])
def test_any_channel_count_and_unknown_spatial_size(channels, rng):
    model = zoo.ResNet18DWR(input_shape=(None, None, channels), num_classes=7)
    for side in (32, 48):
        out = outputs(model, rng.normal(size=(1, side, side, channels)).astype(np.float32))
        assert out.shape == (1, 7)


def test_input_tensor_becomes_the_model_input():
    tensor = tf.keras.Input(shape=(64, 64, 3), name="my_input")
    model = zoo.ResNet20(input_tensor=tensor)
    assert model.inputs[0] is tensor


@pytest.mark.parametrize("pooling, rank", [(None, 4), ("avg", 2), ("max", 2)])
def test_pooling_without_top(pooling, rank):
    model = zoo.ResNet20DWR(include_top=False, pooling=pooling)
    assert len(model.output_shape) == rank and model.output_shape[-1] == 134


def test_weights_from_a_file(tmp_path, rng):
    model = zoo.ResNet20DWR(num_classes=3)
    path = tmp_path / "weights.h5"
    model.save_weights(path)
    loaded = zoo.ResNet20DWR(num_classes=3, weights=str(path))
    images = rng.normal(size=(2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(outputs(loaded, images), outputs(model, images), atol=1e-6)


def test_imagenet_weights_are_not_published_yet():
    with pytest.raises(ValueError, match="no pretrained 'imagenet' weights are published for ResNet18DWR"):
        zoo.ResNet18DWR(weights="imagenet", input_shape=(32, 32, 3))


def test_imagenet_weights_with_top_need_1000_classes():
    with pytest.raises(ValueError, match="num_classes=1000"):
        zoo.ResNet18DWR(weights="imagenet", num_classes=10)


def test_weights_that_are_neither_tag_nor_file():
    with pytest.raises(ValueError, match="neither a dataset tag"):
        zoo.ResNet20(weights="/no/such/weights.h5")


def test_unknown_name_lists_the_closest():
    with pytest.raises(ValueError, match="unknown model 'ResNet18DRW'; did you mean ResNet18DWR"):
        zoo.get_model("ResNet18DRW")


@pytest.mark.parametrize(
    "input_shape, message",
    [
        ((32, 32), "2 dimension"),
        ((1, 32, 32, 3), "4 dimension"),
        ((16, 64, 3), "height 16 is too small"),
        ((64, 64, None), "channel count"),
    ],
)
def test_impossible_input_shapes(input_shape, message):
    with pytest.raises(ValueError, match=message):
        zoo.ResNet18DWR(input_shape=input_shape)


def test_keyword_only_arguments():
    with pytest.raises(TypeError):
        zoo.ResNet20((32, 32, 3))


def test_a_card_file_builds_like_a_zoo_model(tmp_path):
    data = zoo.get_card("ResNet20DWR").to_dict()
    data["name"] = "MyResNet"
    data["spec"]["widths"] = [16, 40, 80]
    path = tmp_path / "my_resnet.json"
    path.write_text(json.dumps(data))
    model = zoo.get_model(str(path), include_top=False)
    assert model.name == "MyResNet" and model.output_shape[-1] == 80


def test_a_bad_card_file_names_the_file_and_field(tmp_path):
    data = zoo.get_card("ResNet20DWR").to_dict()
    data["spec"]["depths"] = [1, 0, 1]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"bad.json: invalid spec: .*depths\[1\]"):
        zoo.get_model(str(path))


@pytest.mark.parametrize("path", sorted(Path(__file__).parents[2].glob("experiments/*/*.json")), ids=lambda p: p.name)
def test_the_experiments_cards_still_load(path):
    """A run folder under experiments/ resumes only if its card still passes the card checks."""
    assert zoo.get_card(str(path)).spec.depths
