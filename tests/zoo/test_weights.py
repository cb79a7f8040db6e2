"""Published weights: download through a loopback server, verification, cache, and
clear failures for every kind of bad weights argument."""

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from conftest import randomize_batch_norms
from weights_helpers import LoopbackServer, write_card

from dwr_larq.zoo import cache
from dwr_larq import zoo


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
    assert _sha(cached) == published["entry"]["top"]["sha256"]
    assert sorted(os.listdir(cached.parent)) == ["Tiny-shapes.h5"]  # no partial file left
    expected = published["model"].predict(published["images"], verbose=0)
    np.testing.assert_allclose(loaded.predict(published["images"], verbose=0), expected, atol=1e-6)

    tf.keras.backend.clear_session()
    again = zoo.get_model(card, weights="shapes", num_classes=3)
    assert server.requests == ["/Tiny-shapes.h5"]  # no second request
    np.testing.assert_allclose(again.predict(published["images"], verbose=0), expected, atol=1e-6)


def test_include_top_false_loads_the_no_top_file(tmp_path, published, server):
    card = _card(tmp_path, published["entry"], server.url)
    features = zoo.get_model(card, weights="shapes", include_top=False)
    assert server.requests == ["/Tiny-shapes-notop.h5"]
    np.testing.assert_allclose(
        features.predict(published["images"], verbose=0),
        published["no_top_model"].predict(published["images"], verbose=0),
        atol=1e-6,
    )
    pooled = zoo.get_model(card, weights="shapes", include_top=False, pooling="max")
    assert pooled.output_shape == (None, 16) and server.requests == ["/Tiny-shapes-notop.h5"]


def test_a_card_with_only_top_weights_serves_a_model_without_top(tmp_path, published, server):
    entry = {key: value for key, value in published["entry"].items() if key != "no_top"}
    features = zoo.get_model(_card(tmp_path, entry, server.url), weights="shapes", include_top=False)
    assert server.requests == ["/Tiny-shapes.h5"]
    np.testing.assert_allclose(
        features.predict(published["images"], verbose=0),
        published["no_top_model"].predict(published["images"], verbose=0),
        atol=1e-6,
    )


def test_a_wrong_hash_fails_deletes_the_file_and_says_so(tmp_path, published, server, cache_home):
    entry = {**published["entry"], "top": {**published["entry"]["top"], "sha256": "0" * 64}}
    card = _card(tmp_path, entry, server.url)
    with pytest.raises(ValueError, match=r"has sha256 [0-9a-f]{64}, not 0{64} as the card says; deleted it"):
        zoo.get_model(card, weights="shapes")
    assert server.requests == ["/Tiny-shapes.h5"]
    folder = cache_home / "weights"
    assert not folder.exists() or os.listdir(folder) == []


def test_a_404_names_the_url_and_where_to_put_the_file(tmp_path, published, server, cache_home):
    entry = {**published["entry"], "top": {**published["entry"]["top"], "file": "Missing.h5"}}
    card = _card(tmp_path, entry, server.url)
    with pytest.raises(ValueError) as error:
        zoo.get_model(card, weights="shapes")
    message = str(error.value)
    assert f"could not download {server.url}/Missing.h5" in message and "404" in message
    assert str(cache_home / "weights" / "Missing.h5") in message
    assert os.listdir(cache_home / "weights") == []


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
        loaded.predict(published["images"], verbose=0), published["model"].predict(published["images"], verbose=0), atol=1e-6
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
        loaded.predict(published["images"], verbose=0), published["model"].predict(published["images"], verbose=0), atol=1e-6
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
    with pytest.raises(ValueError, match="cannot create the weights cache .*set DWR_LARQ_HOME"):
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
        features.predict(published["images"], verbose=0),
        published["no_top_model"].predict(published["images"], verbose=0),
        atol=1e-6,
    )
    with pytest.raises(ValueError, match="holds no top .*include_top=False"):
        zoo.get_model(card, num_classes=3, weights=str(published["folder"] / "Tiny-shapes-notop.h5"))


def test_a_tensorflow_checkpoint_prefix_loads_and_a_wrong_one_is_refused(tmp_path, published):
    prefix = str(tmp_path / "checkpoint" / "weights")
    published["model"].save_weights(prefix)
    loaded = zoo.get_model(str(tmp_path / "tiny.json"), num_classes=3, weights=prefix)
    np.testing.assert_allclose(
        loaded.predict(published["images"], verbose=0), published["model"].predict(published["images"], verbose=0), atol=1e-6
    )
    with pytest.raises(ValueError, match="cannot load weights .* into ResNet20"):
        zoo.ResNet20(weights=prefix)


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"num_classes": 3}, "lists no file"),
        ({"num_classes": 0, "top": {"file": "a.h5", "sha256": "0" * 64}}, "'num_classes' must be an integer >= 1"),
        ({"num_classes": 3, "top": {"file": "a.h5", "sha256": "abc"}}, "'sha256' must be 64 lower-case hex digits"),
        ({"num_classes": 3, "top": {"file": "../a.h5", "sha256": "0" * 64}}, "'file' must be a plain file name"),
        ({"num_classes": 3, "top": {"file": "a.h5"}}, r"must be \{\"file\": ..., \"sha256\": ...\}"),
        ({"num_classes": 3, "url": "x", "top": {"file": "a.h5", "sha256": "0" * 64}}, r"unknown field\(s\) \['url'\]"),
    ],
)
def test_a_bad_weights_entry_on_a_card_names_the_field(tmp_path, entry, message):
    card = _card(tmp_path, entry)
    with pytest.raises(ValueError, match=rf"published.json: weights\['shapes'\].*{message}"):
        zoo.get_model(card)


def _spec(**changes):
    from weights_helpers import TINY_CARD

    return {**TINY_CARD["spec"], **changes}
