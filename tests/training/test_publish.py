"""Publishing a run: train briefly, export-weights, serve, load through get_model."""

import hashlib
import json
import shutil

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner
from weights_helpers import LoopbackServer, write_card

from dwr_larq.training import data, runs
from dwr_larq.zoo import cache
from dwr_larq import zoo
from dwr_larq.cli.main import main
from dwr_larq.training.train import train
from conftest import outputs


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished two-epoch run of the tiny card on digits (about 10 s)."""
    folder = tmp_path_factory.mktemp("trained")
    card = write_card(folder / "tiny.json")
    run = folder / "run"
    summary = train(card, dataset="digits", epochs=2, batch_size=128, out=run, learning_rate=5e-3, verbose=0)
    return {"card": card, "run": run, "summary": summary}


@pytest.fixture(autouse=True)
def cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv(cache.HOME_VARIABLE, str(tmp_path / "home"))
    monkeypatch.delenv(cache.URL_VARIABLE, raising=False)


def _export(*args):
    return CliRunner().invoke(main, ["export-weights", *map(str, args)])


def _digits(count=32):
    images, _ = data.digits("test", image_size=16)
    return images[:count]


def test_a_trained_run_round_trips_through_export_and_download(tmp_path, trained):
    out = tmp_path / "publish"
    out.mkdir()
    server = LoopbackServer(out)
    try:
        result = _export(trained["run"], "--name", trained["card"], "--tag", "digits", "--out", out, "--base-url", server.url)
        assert result.exit_code == 0, result.output
        card = zoo.get_card(str(out / "Tiny.json"))
        entry = card.weights["digits"]
        assert card.weights_url == server.url
        assert (entry.num_classes, entry.input_size, entry.channels) == (10, 16, 3)
        summary = trained["summary"]
        assert entry.trained["accuracy_keras"] == summary["accuracy"]
        assert {key: entry.trained[key] for key in ("dataset", "train_images", "test_images", "input_size", "channels",
                                                    "epochs", "batch_size", "seed")} == {
            "dataset": "digits", "train_images": summary["train_images"], "test_images": summary["test_images"],
            "input_size": 16, "channels": 3, "epochs": 2, "batch_size": 128, "seed": 0,
        }
        assert json.loads((out / "Tiny.digits.entry.json").read_text()) == {"digits": entry.to_dict()}
        assert json.loads((out / "Tiny.json").read_text()) == card.to_dict()  # the card round-trips
        for item in (entry.top, entry.no_top):
            digest = hashlib.sha256((out / item.file).read_bytes()).hexdigest()
            assert digest == item.sha256 and item.file.endswith(f"-{digest[:8]}.h5") and not item.shipped
            assert f"{digest}  {item.file}" in (out / "SHA256SUMS").read_text().splitlines()
            assert f"sha256 {digest}" in result.output
        assert not list(out.glob(".*"))  # no temporary file left

        original = tf.keras.models.load_model(str(trained["run"] / runs.MODEL))
        images = _digits()
        loaded = zoo.get_model(str(out / "Tiny.json"), weights="digits")
        np.testing.assert_allclose(outputs(loaded, images), outputs(original, images), atol=1e-6)
        features = zoo.get_model(str(out / "Tiny.json"), weights="digits", include_top=False, pooling="avg")
        pooled = tf.keras.Model(original.input, original.get_layer("avg_pool").output)
        np.testing.assert_allclose(outputs(features, images), outputs(pooled, images), atol=1e-6)
        assert server.requests == [f"/{entry.top.file}", f"/{entry.no_top.file}"]
    finally:
        server.stop()


def test_exports_are_reproducible_and_tags_accumulate_on_the_card(tmp_path, trained):
    out = tmp_path / "publish"
    assert _export(trained["run"], "--name", trained["card"], "--tag", "digits", "--out", out).exit_code == 0
    result = _export(trained["run"], "--name", trained["card"], "--tag", "digits-v2", "--out", out, "--json")
    assert result.exit_code == 0, result.output
    card = zoo.get_card(str(out / "Tiny.json"))
    assert sorted(card.weights) == ["digits", "digits-v2"]
    assert card.weights["digits"].top.sha256 == card.weights["digits-v2"].top.sha256
    assert len((out / "SHA256SUMS").read_text().splitlines()) == 4
    assert json.loads(result.output)["entry"] == {"digits-v2": card.weights["digits-v2"].to_dict()}


def test_exported_weights_fill_a_shipped_style_card(tmp_path, trained):
    """The run's weights load into get_model(NAME) from a file path, like any weights file."""
    out = tmp_path / "publish"
    assert _export(trained["run"], "--name", trained["card"], "--tag", "digits", "--out", out).exit_code == 0
    entry = zoo.get_card(str(out / "Tiny.json")).weights["digits"]
    model = zoo.get_model(trained["card"], weights=str(out / entry.top.file))
    original = tf.keras.models.load_model(str(trained["run"] / runs.MODEL))
    np.testing.assert_allclose(outputs(model, _digits()), outputs(original, _digits()), atol=1e-6)


def test_weights_for_another_architecture_are_refused_naming_the_layer(tmp_path, trained):
    out = tmp_path / "publish"
    result = _export(trained["run"], "--name", "ResNet20DWR", "--tag", "digits", "--out", out)
    assert result.exit_code == 1
    assert "does not fit ResNet20DWR: layer 'stem_conv' has weights of shape (3, 3, 3, 8) there but (3, 3, 3, 16)" in result.output
    assert not out.exists()


def test_an_unfinished_run_is_refused(tmp_path, trained):
    unfinished = tmp_path / "unfinished"
    shutil.copytree(trained["run"], unfinished)
    (unfinished / runs.SUMMARY).unlink()
    result = _export(unfinished, "--name", trained["card"], "--tag", "digits", "--out", tmp_path / "publish")
    assert result.exit_code == 1 and "is not finished (no summary.json)" in result.output
    assert not (tmp_path / "publish").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--tag", "Digits Set"], "tag 'Digits Set' must be lower-case letters"),
        (["--tag", "digits", "--name", "NoSuchModel"], "unknown model 'NoSuchModel'"),
    ],
)
def test_bad_export_arguments(tmp_path, trained, args, message):
    options = {"--name": trained["card"], **dict(zip(args[::2], args[1::2]))}
    flat = [item for pair in options.items() for item in pair]
    result = _export(trained["run"], *flat, "--out", tmp_path / "publish")
    assert result.exit_code == 1 and message in result.output
    assert not (tmp_path / "publish").exists()


def test_a_folder_that_is_not_a_run(tmp_path, trained):
    folder = tmp_path / "photos"
    folder.mkdir()
    result = _export(folder, "--name", trained["card"], "--tag", "digits", "--out", tmp_path / "publish")
    assert result.exit_code == 1 and "is not a dwr-larq run directory (no config.json)" in result.output


def test_a_runs_saved_model_and_checkpoint_also_serve_as_weights_files(trained):
    """weights= takes a run's model.keras or best/ checkpoint prefix too, with or without top."""
    images = _digits()
    for weights in (str(trained["run"] / runs.MODEL), str(trained["run"] / "best" / "weights")):
        tf.keras.backend.clear_session()
        full = zoo.get_model(trained["card"], weights=weights)
        reference = tf.keras.Model(full.input, full.get_layer("avg_pool").input)
        features = zoo.get_model(trained["card"], include_top=False, weights=weights)
        np.testing.assert_allclose(outputs(features, images), outputs(reference, images), atol=1e-6)
    original = tf.keras.models.load_model(str(trained["run"] / runs.MODEL))
    np.testing.assert_allclose(
        outputs(zoo.get_model(trained["card"], weights=str(trained["run"] / runs.MODEL)), images),
        outputs(original, images),
        atol=1e-6,
    )


def test_a_one_channel_run_publishes_one_channel_weights(tmp_path, trained):
    """The entry records the channels the run was trained on, and its files load at that channel count."""
    run = tmp_path / "grey"
    train(trained["card"], dataset="digits", epochs=2, batch_size=128, out=run, verbose=0, channels=1)
    out = tmp_path / "publish"
    result = _export(run, "--name", trained["card"], "--tag", "grey", "--out", out)
    assert result.exit_code == 0, result.output
    entry = zoo.get_card(str(out / "Tiny.json")).weights["grey"]
    assert entry.channels == 1 and entry.trained["channels"] == 1
    model = zoo.get_model(trained["card"], weights=str(out / entry.top.file), input_shape=(16, 16, 1))
    original = tf.keras.models.load_model(str(run / runs.MODEL))
    images = _digits()[..., :1]
    np.testing.assert_allclose(outputs(model, images), outputs(original, images), atol=1e-6)
