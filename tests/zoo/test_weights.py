"""Published weights: download through a loopback server, verification, cache, and
clear failures for every kind of bad weights argument."""

import dataclasses
import hashlib
import json
import os
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner
from conftest import outputs, randomize_batch_norms
from weights_helpers import TINY_CARD, LoopbackServer, colour_folder, write_card

from dwr_larq import zoo
from dwr_larq.cli.main import main
from dwr_larq.zoo import cache, cards
from dwr_larq.zoo.cards import ModelCard, Variant, WeightsEntry


@pytest.fixture(autouse=True)
def cache_home(tmp_path, monkeypatch):
    """Every test gets its own cache and no mirror from the environment."""
    home = tmp_path / "home"
    monkeypatch.setenv(cache.HOME_VARIABLE, str(home))
    monkeypatch.delenv(cache.URL_VARIABLE, raising=False)
    return home


def _sha(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture
def published(tmp_path, rng):
    """A tiny 3-class model and its weight files (top and no-top) in a folder to serve."""
    card = write_card(tmp_path / "tiny.json")
    model = zoo.get_model(card, num_classes=3)
    randomize_batch_norms(model, rng)
    served = tmp_path / "served"
    served.mkdir()
    top = served / "Tiny-shapes.h5"
    model.save_weights(str(top))
    no_top_model = zoo.get_model(card, include_top=False)
    no_top_model.load_weights(str(top), by_name=True)
    no_top = served / "Tiny-shapes-notop.h5"
    no_top_model.save_weights(str(no_top))
    entry = {
        "num_classes": 3,
        "input_size": 16,
        "top": {"file": top.name, "sha256": _sha(top)},
        "no_top": {"file": no_top.name, "sha256": _sha(no_top)},
    }
    images = rng.uniform(-1, 1, (4, 16, 16, 3)).astype(np.float32)
    return {"model": model, "no_top_model": no_top_model, "folder": served, "entry": entry, "images": images}


@pytest.fixture
def server(published):
    server = LoopbackServer(published["folder"])
    yield server
    server.stop()


def _card(tmp_path, entry, url=None, name="published.json"):
    return write_card(tmp_path / name, weights={"shapes": entry}, **({"weights_url": url} if url else {}))


def test_first_load_downloads_and_verifies_second_load_uses_the_cache(tmp_path, published, server, cache_home):
    card = _card(tmp_path, published["entry"], server.url)
    loaded = zoo.get_model(card, weights="shapes")  # num_classes comes from the entry
    assert server.requests == ["/Tiny-shapes.h5"]
    cached = cache_home / "weights" / "Tiny-shapes.h5"
    assert _sha(cached) == zoo.get_card(card).weights["shapes"].top.sha256
    # No partial file left; the lock file stays (deleting it would race with a process about to take it).
    assert sorted(os.listdir(cached.parent)) == [".Tiny-shapes.h5.lock", "Tiny-shapes.h5"]
    expected = outputs(published["model"], published["images"])
    np.testing.assert_allclose(outputs(loaded, published["images"]), expected, atol=1e-6)

    tf.keras.backend.clear_session()
    again = zoo.get_model(card, weights="shapes", num_classes=3)
    assert server.requests == ["/Tiny-shapes.h5"]  # no second request
    np.testing.assert_allclose(outputs(again, published["images"]), expected, atol=1e-6)


def test_include_top_false_loads_the_no_top_file(tmp_path, published, server):
    card = _card(tmp_path, published["entry"], server.url)
    features = zoo.get_model(card, weights="shapes", include_top=False)
    assert server.requests == ["/Tiny-shapes-notop.h5"]
    np.testing.assert_allclose(
        outputs(features, published["images"]),
        outputs(published["no_top_model"], published["images"]),
        atol=1e-6,
    )
    pooled = zoo.get_model(card, weights="shapes", include_top=False, pooling="max")
    assert pooled.output_shape == (None, 16) and server.requests == ["/Tiny-shapes-notop.h5"]


def test_a_card_with_only_top_weights_serves_a_model_without_top(tmp_path, published, server):
    entry = {key: value for key, value in published["entry"].items() if key != "no_top"}
    features = zoo.get_model(_card(tmp_path, entry, server.url), weights="shapes", include_top=False)
    assert server.requests == ["/Tiny-shapes.h5"]
    np.testing.assert_allclose(
        outputs(features, published["images"]),
        outputs(published["no_top_model"], published["images"]),
        atol=1e-6,
    )


def test_a_wrong_hash_fails_deletes_the_file_and_says_so(tmp_path, published, server, cache_home):
    entry = {**published["entry"], "top": {**published["entry"]["top"], "sha256": "0" * 64}}
    card = _card(tmp_path, entry, server.url)
    with pytest.raises(ValueError, match=r"has sha256 [0-9a-f]{64}, not 0{64} as expected; deleted it"):
        zoo.get_model(card, weights="shapes")
    assert server.requests == ["/Tiny-shapes.h5"]
    assert os.listdir(cache_home / "weights") == [".Tiny-shapes.h5.lock"]  # no file, no partial file


def test_a_404_names_the_url_and_where_to_put_the_file(tmp_path, published, server, cache_home):
    entry = {**published["entry"], "top": {**published["entry"]["top"], "file": "Missing.h5"}}
    card = _card(tmp_path, entry, server.url)
    with pytest.raises(ValueError) as error:
        zoo.get_model(card, weights="shapes")
    message = str(error.value)
    assert f"could not download {server.url}/Missing.h5" in message and "404" in message
    assert str(cache_home / "weights" / "Missing.h5") in message
    assert os.listdir(cache_home / "weights") == [".Missing.h5.lock"]  # nothing under the file's name


def test_a_stopped_server_names_the_url_and_how_to_install_by_hand(tmp_path, published, cache_home):
    server = LoopbackServer(published["folder"])
    server.stop()
    card = _card(tmp_path, published["entry"], server.url)
    with pytest.raises(ValueError) as error:
        zoo.get_model(card, weights="shapes")
    message = str(error.value)
    assert f"could not download {server.url}/Tiny-shapes.h5" in message
    assert "Connection refused" in message
    assert f"copy it to {cache_home / 'weights' / 'Tiny-shapes.h5'}" in message
    assert "DWR_LARQ_WEIGHTS_URL" in message


def test_a_file_placed_by_hand_in_the_cache_loads_without_any_url(tmp_path, published, cache_home):
    card = _card(tmp_path, published["entry"])  # no weights_url, no mirror
    target = cache_home / "weights" / "Tiny-shapes.h5"
    with pytest.raises(ValueError, match=f"names no weights_url.*copy it to {target}"):
        zoo.get_model(card, weights="shapes")
    target.parent.mkdir(parents=True)
    target.write_bytes((published["folder"] / "Tiny-shapes.h5").read_bytes())
    loaded = zoo.get_model(card, weights="shapes")
    np.testing.assert_allclose(
        outputs(loaded, published["images"]), outputs(published["model"], published["images"]), atol=1e-6
    )


def test_the_environment_overrides_the_cards_url(tmp_path, published, server, monkeypatch):
    dead = LoopbackServer(published["folder"])
    dead.stop()
    card = _card(tmp_path, published["entry"], dead.url)
    monkeypatch.setenv(cache.URL_VARIABLE, server.url + "/")
    zoo.get_model(card, weights="shapes")
    assert server.requests == ["/Tiny-shapes.h5"]


def test_a_folder_mirror_works_offline(tmp_path, published, monkeypatch):
    monkeypatch.setenv(cache.URL_VARIABLE, published["folder"].resolve().as_uri())
    loaded = zoo.get_model(_card(tmp_path, published["entry"]), weights="shapes")
    np.testing.assert_allclose(
        outputs(loaded, published["images"]), outputs(published["model"], published["images"]), atol=1e-6
    )


def test_a_stale_cached_file_is_downloaded_again(tmp_path, published, server, cache_home):
    target = cache_home / "weights" / "Tiny-shapes.h5"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"not the weights")
    zoo.get_model(_card(tmp_path, published["entry"], server.url), weights="shapes")
    assert server.requests == ["/Tiny-shapes.h5"] and _sha(target) == published["entry"]["top"]["sha256"]


def test_a_cache_that_cannot_be_created_says_which_variable_to_set(tmp_path, published, server, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv(cache.HOME_VARIABLE, str(blocker / "cache"))
    with pytest.raises(ValueError, match="cache folder .*a-file/cache/weights cannot be written .*set DWR_LARQ_HOME"):
        zoo.get_model(_card(tmp_path, published["entry"], server.url), weights="shapes")


def test_the_default_cache_is_under_keras_home(monkeypatch, tmp_path):
    monkeypatch.delenv(cache.HOME_VARIABLE)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache.cache_path("x.h5") == tmp_path / ".keras" / "dwr_larq" / "weights" / "x.h5"


# --- bad weights arguments --------------------------------------------------------------


def test_unpublished_weights_name_the_command_that_trains_them():
    with pytest.raises(ValueError) as error:
        zoo.ResNet20DWR(weights="cifar10")
    message = str(error.value)
    assert "no pretrained 'cifar10' weights are published for ResNet20DWR yet" in message
    assert "`dwr-larq train ResNet20DWR --dataset cifar10" in message and "dwr-larq export-weights" in message


def test_a_tag_the_card_does_not_list(tmp_path, published):
    card = _card(tmp_path, published["entry"])
    with pytest.raises(ValueError, match=r"weights='flowers' is neither a dataset tag listed on the Tiny card \('shapes'\)"):
        zoo.get_model(card, weights="flowers")


def test_num_classes_that_conflict_with_the_top(tmp_path, published):
    card = _card(tmp_path, published["entry"])
    with pytest.raises(ValueError, match="have a top for 3 classes, so include_top=True needs num_classes=3 \\(got 5\\)"):
        zoo.get_model(card, weights="shapes", num_classes=5)


def test_a_tag_with_only_no_top_weights_refuses_a_top(tmp_path, published):
    entry = {key: value for key, value in published["entry"].items() if key != "top"}
    with pytest.raises(ValueError, match="only no-top 'shapes' weights are published for Tiny; pass include_top=False"):
        zoo.get_model(_card(tmp_path, entry), weights="shapes")


def test_a_file_for_another_architecture_names_the_layer(tmp_path, published):
    wider = write_card(tmp_path / "wider.json", spec=_spec(widths=[8, 24]))
    path = tmp_path / "wider.h5"
    zoo.get_model(wider).save_weights(str(path))
    with pytest.raises(ValueError, match=r"layer 'stage2_block1_unit1_conv' has weights of shape \(3, 3, 8, 24\) there but \(3, 3, 8, 16\)"):
        zoo.get_model(str(tmp_path / "tiny.json"), weights=str(path))
    deeper = write_card(tmp_path / "deeper.json", spec=_spec(depths=[2, 1]))
    zoo.get_model(deeper).save_weights(str(path))
    with pytest.raises(ValueError, match=r"has layer\(s\) \['stage1_block2_unit1_conv'"):
        zoo.get_model(str(tmp_path / "tiny.json"), weights=str(path))


def test_a_file_whose_top_has_other_classes(tmp_path, published):
    top = str(published["folder"] / "Tiny-shapes.h5")
    with pytest.raises(ValueError, match="has a top for 3 classes but the model has 10: pass num_classes=3"):
        zoo.get_model(str(tmp_path / "tiny.json"), weights=top)


def test_a_top_file_loads_into_a_model_without_top_and_a_no_top_file_does_not_give_a_top(tmp_path, published):
    card = str(tmp_path / "tiny.json")
    features = zoo.get_model(card, include_top=False, weights=str(published["folder"] / "Tiny-shapes.h5"))
    np.testing.assert_allclose(
        outputs(features, published["images"]),
        outputs(published["no_top_model"], published["images"]),
        atol=1e-6,
    )
    with pytest.raises(ValueError, match="holds no top .*include_top=False"):
        zoo.get_model(card, num_classes=3, weights=str(published["folder"] / "Tiny-shapes-notop.h5"))


def test_a_tensorflow_checkpoint_prefix_loads_and_a_wrong_one_is_refused(tmp_path, published):
    prefix = str(tmp_path / "checkpoint" / "weights")
    published["model"].save_weights(prefix)
    loaded = zoo.get_model(str(tmp_path / "tiny.json"), num_classes=3, weights=prefix)
    np.testing.assert_allclose(
        outputs(loaded, published["images"]), outputs(published["model"], published["images"]), atol=1e-6
    )
    with pytest.raises(ValueError, match="cannot load weights .* into ResNet20"):
        zoo.ResNet20(weights=prefix)


FILE = {"file": "a.h5", "sha256": "0" * 64}


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"num_classes": 3, "input_size": 16}, "lists no file"),
        ({"num_classes": 0, "input_size": 16, "top": FILE}, "'num_classes' must be an integer >= 1"),
        ({"num_classes": 3, "top": FILE}, "'input_size' must be an integer >= 1, got None"),
        ({"num_classes": 3, "input_size": 16, "channels": 0, "top": FILE}, "'channels' must be an integer >= 1, got 0"),
        ({"num_classes": 3, "input_size": 16, "top": {**FILE, "sha256": "abc"}}, "'sha256' must be 64 lower-case hex digits"),
        ({"num_classes": 3, "input_size": 16, "top": {**FILE, "file": "../a.h5"}}, "'file' must be a plain file name"),
        ({"num_classes": 3, "input_size": 16, "top": {**FILE, "file": "weights/../a.h5"}}, "or weights/<name>.h5"),
        ({"num_classes": 3, "input_size": 16, "top": {**FILE, "file": "other/a.h5"}}, "or weights/<name>.h5"),
        ({"num_classes": 3, "input_size": 16, "top": {"file": "a.h5"}}, r"must be \{\"file\": ..., \"sha256\": ...\}"),
        ({"num_classes": 3, "input_size": 16, "url": "x", "top": FILE}, r"unknown field\(s\) \['url'\]"),
        ({"num_classes": 3, "input_size": 16, "top": FILE, "trained": [1]}, "'trained' must be an object"),
        (
            {"num_classes": 3, "input_size": 16, "top": FILE, "trained": {"accuracy_keras": 91.2}},
            "'trained.accuracy_keras' must be a fraction from 0 to 1, got 91.2",
        ),
        (
            {"num_classes": 3, "input_size": 16, "top": FILE, "trained": {"epochs": "ten"}},
            "'trained.epochs' must be an integer >= 0, got 'ten'",
        ),
        (
            {"num_classes": 3, "input_size": 16, "channels": 1, "top": FILE, "trained": {"channels": 3}},
            "'trained.channels' is 3 but 'channels' is 1",
        ),
    ],
)
def test_a_bad_weights_entry_on_a_card_names_the_field(tmp_path, entry, message):
    card = _card(tmp_path, entry)
    with pytest.raises(ValueError, match=rf"published.json: weights\['shapes'\].*{message}"):
        zoo.get_model(card)


# --- typed entries ----------------------------------------------------------------------


def test_a_cards_weights_entries_are_typed_and_round_trip_to_the_json(tmp_path, published):
    trained = {"dataset": "shapes", "train_images": 120, "test_images": 40, "input_size": 16, "channels": 3,
               "recipe": "bireal", "epochs": 2, "batch_size": 32, "seed": 0, "command": "dwr-larq train ...",
               "accuracy_keras": 0.9, "accuracy_tflite": 0.9, "notes": "kept as written"}
    entry = {**published["entry"], "trained": trained}
    path = _card(tmp_path, entry)
    card = zoo.get_card(path)
    typed = card.weights["shapes"]
    assert isinstance(typed, WeightsEntry) and isinstance(typed.top, Variant)
    assert (typed.tag, typed.num_classes, typed.input_size, typed.channels) == ("shapes", 3, 16, 3)
    assert typed.top == Variant("Tiny-shapes.h5", entry["top"]["sha256"]) and not typed.top.shipped
    assert typed.trained == trained
    written = json.loads(Path(path).read_text())
    assert card.to_dict()["weights"] == {"shapes": {**written["weights"]["shapes"], "channels": 3}}
    assert ModelCard.from_dict(card.to_dict()) == card
    with pytest.raises(dataclasses.FrozenInstanceError):
        typed.num_classes = 5


# --- weights shipped in the package -------------------------------------------------------


def _shipped_entry(published, folder):
    """The published entry with its files moved to ``folder``/weights, named as shipped files are."""
    (folder / "weights").mkdir(parents=True)
    entry = dict(published["entry"])
    for variant in ("top", "no_top"):
        name = entry[variant]["file"]
        (folder / "weights" / name).write_bytes((published["folder"] / name).read_bytes())
        entry[variant] = {**entry[variant], "file": f"weights/{name}"}
    return entry


def test_shipped_weights_load_offline_from_beside_the_card(tmp_path, published, server, cache_home, monkeypatch):
    """A weights/<name>.h5 file is read where the card is, verified, and never downloaded."""
    folder = tmp_path / "cards"
    entry = _shipped_entry(published, folder)
    monkeypatch.setenv(cache.URL_VARIABLE, server.url)  # a mirror that must not be asked
    card = write_card(folder / "tiny.json", weights={"shapes": entry}, weights_url=server.url)
    assert zoo.get_card(card).weights["shapes"].top.shipped
    loaded = zoo.get_model(card, weights="shapes")
    np.testing.assert_allclose(
        outputs(loaded, published["images"]), outputs(published["model"], published["images"]), atol=1e-6
    )
    features = zoo.get_model(card, weights="shapes", include_top=False)
    np.testing.assert_allclose(
        outputs(features, published["images"]),
        outputs(published["no_top_model"], published["images"]),
        atol=1e-6,
    )
    assert server.requests == [] and not cache_home.exists()


def test_shipped_weights_come_from_the_cards_package(tmp_path, published, server, monkeypatch):
    """Cards that ship with dwr-larq find their files through importlib.resources: here a
    stand-in package plays dwr_larq.zoo_cards."""
    package = tmp_path / "site" / "fake_zoo_cards"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    entry = _shipped_entry(published, package)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setattr(cards, "CARDS_PACKAGE", "fake_zoo_cards")
    card = ModelCard.from_dict({**TINY_CARD, "weights": {"shapes": entry}, "weights_url": server.url})
    assert Path(str(card.shipped_file(card.weights["shapes"].top))) == package / "weights" / "Tiny-shapes.h5"
    loaded = zoo.build_from_card(card, weights="shapes")
    np.testing.assert_allclose(
        outputs(loaded, published["images"]), outputs(published["model"], published["images"]), atol=1e-6
    )
    assert server.requests == []


def test_the_real_cards_package_holds_shipped_weights_under_weights():
    card = ModelCard.from_dict(TINY_CARD)
    variant = Variant("weights/x.h5", "0" * 64)
    assert str(card.shipped_file(variant)) == str(resources.files("dwr_larq.zoo_cards").joinpath("weights", "x.h5"))


def test_a_shipped_file_that_does_not_match_its_hash_is_refused(tmp_path, published, server):
    folder = tmp_path / "cards"
    entry = _shipped_entry(published, folder)
    entry["top"] = {**entry["top"], "sha256": "0" * 64}
    card = write_card(folder / "tiny.json", weights={"shapes": entry}, weights_url=server.url)
    with pytest.raises(ValueError, match=r"the shipped file .*Tiny-shapes.h5 has sha256 [0-9a-f]{64}, not 0{64} as the card says"):
        zoo.get_model(card, weights="shapes")
    (folder / "weights" / "Tiny-shapes-notop.h5").unlink()
    with pytest.raises(ValueError, match=r"\(weights/Tiny-shapes-notop.h5\) should ship with the package but .* is missing"):
        zoo.get_model(card, weights="shapes", include_top=False)
    assert server.requests == []


# --- what a tag's weights can serve -----------------------------------------------------


@pytest.fixture
def grey(tmp_path, rng):
    """A card whose 'shapes' weights were trained on 1-channel 16x16 images, 3 classes."""
    plain = write_card(tmp_path / "plain.json")
    model = zoo.get_model(plain, input_shape=(16, 16, 1), num_classes=3)
    randomize_batch_norms(model, rng)
    path = tmp_path / "cards" / "weights" / "grey.h5"
    path.parent.mkdir(parents=True)
    model.save_weights(str(path))
    entry = {"num_classes": 3, "input_size": 16, "channels": 1, "top": {"file": "weights/grey.h5", "sha256": _sha(path)}}
    card = write_card(tmp_path / "cards" / "grey.json", weights={"shapes": entry})
    return {"card": card, "model": model, "images": rng.uniform(-1, 1, (2, 16, 16, 1)).astype(np.float32)}


def test_a_tags_trained_channels_and_size_are_the_default_input(grey):
    model = zoo.get_model(grey["card"], weights="shapes")
    assert model.input_shape == (None, 16, 16, 1) and model.output_shape == (None, 3)
    np.testing.assert_allclose(
        outputs(model, grey["images"]), outputs(grey["model"], grey["images"]), atol=1e-6
    )
    assert zoo.get_model(grey["card"], weights="shapes", include_top=False).input_shape == (None, None, None, 1)


def test_input_channels_the_weights_were_not_trained_on_are_named(grey):
    with pytest.raises(ValueError, match=r"input shape \(16, 16, 3\) has 3 channel\(s\) but Tiny's 'shapes' weights were "
                                         r"trained on 1-channel images; pass input_shape=\(16, 16, 1\)"):
        zoo.get_model(grey["card"], weights="shapes", input_shape=(16, 16, 3))
    with pytest.raises(ValueError, match="has 3 channel"):
        zoo.get_model(grey["card"], weights="shapes", include_top=False, input_tensor=tf.keras.Input((16, 16, 3)))


@pytest.mark.parametrize("input_shape", [(32, 32, 1), (None, None, 1), (16, 24, 1)])
def test_another_image_size_needs_include_top_false(grey, input_shape):
    with pytest.raises(ValueError, match=r"with include_top=True, Tiny's 'shapes' weights need 16x16 images.*include_top=False"):
        zoo.get_model(grey["card"], weights="shapes", input_shape=input_shape)
    features = zoo.get_model(grey["card"], weights="shapes", include_top=False, input_shape=input_shape)
    assert features.input_shape == (None, *input_shape)


def test_num_classes_the_top_does_not_have_are_named(grey):
    with pytest.raises(ValueError, match=r"have a top for 3 classes, so include_top=True needs num_classes=3 \(got 100\)"):
        zoo.get_model(grey["card"], weights="shapes", num_classes=100)
    assert zoo.get_model(grey["card"], weights="shapes", include_top=False, num_classes=100).output_shape[-1] == 16


# --- damaged files ----------------------------------------------------------------------


def _truncated(published, tmp_path, name="truncated.h5"):
    data = (published["folder"] / "Tiny-shapes.h5").read_bytes()
    path = tmp_path / name
    path.write_bytes(data[: len(data) // 2])
    return str(path)


def test_a_truncated_hdf5_file_is_named_as_damaged(tmp_path, published):
    path = _truncated(published, tmp_path)
    with pytest.raises(ValueError) as error:
        zoo.get_model(str(tmp_path / "tiny.json"), num_classes=3, weights=path)
    message = str(error.value)
    assert message.startswith(f"weights file {path!r} is a damaged HDF5 file, truncated or corrupted (")
    assert message.endswith("download or save it again") and "\n" not in message


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("empty.h5", b"", "is not an HDF5 file"),
        ("text.h5", b"<html>404</html>", "is not an HDF5 file"),
        ("model.keras", b"PK\x03\x04 cut short", r"is not a complete .keras file"),
    ],
)
def test_a_file_of_another_kind_is_named(tmp_path, published, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ValueError, match=rf"weights file '{path}' {message}"):
        zoo.get_model(str(tmp_path / "tiny.json"), num_classes=3, weights=str(path))


def test_finetune_names_a_truncated_weights_file(tmp_path, published):
    colour_folder(tmp_path / "images", per_class=5)
    path = _truncated(published, tmp_path)
    result = CliRunner().invoke(main, [
        "finetune", str(tmp_path / "tiny.json"), "--weights", path, "--data", f"folder:{tmp_path / 'images'}",
        "--out", str(tmp_path / "run"), "--epochs", "1", "--fine-tune-epochs", "0",
    ])
    assert result.exit_code == 1
    assert f"weights file {path!r} is a damaged HDF5 file, truncated or corrupted" in result.output
    assert "Traceback" not in result.output


def _spec(**changes):
    from weights_helpers import TINY_CARD

    return {**TINY_CARD["spec"], **changes}
