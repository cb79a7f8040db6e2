"""Transfer learning: a backbone pretrained on digits, published, downloaded by tag and
fine-tuned on a generated three-class image folder."""

import json

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner
from weights_helpers import LoopbackServer, colour_folder, write_card

from dwr_larq.training import data, runs
from dwr_larq.zoo import cache
from dwr_larq import zoo
from dwr_larq.cli.main import main
from dwr_larq.training.publish import export_weights
from dwr_larq.training.finetune import finetune
from dwr_larq.training.train import train
from conftest import outputs

FAST = dict(batch_size=16, learning_rate=3e-3, verbose=0)


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """Tiny pretrained on digits (two epochs), exported with tag 'digits', plus a
    folder of 3 x 40 colour-coded images (every fifth held out: 24 test images)."""
    folder = tmp_path_factory.mktemp("published")
    card = write_card(folder / "tiny.json")
    train(card, dataset="digits", epochs=2, batch_size=128, out=folder / "run", learning_rate=5e-3, verbose=0)
    export_weights(folder / "run", name=card, tag="digits", out=folder / "publish")
    names = colour_folder(folder / "colours")
    return {"card": str(folder / "publish" / "Tiny.json"), "files": folder / "publish", "images": folder / "colours", "names": names}


@pytest.fixture
def server(published, tmp_path, monkeypatch):
    monkeypatch.setenv(cache.HOME_VARIABLE, str(tmp_path / "home"))
    server = LoopbackServer(published["files"])
    monkeypatch.setenv(cache.URL_VARIABLE, server.url)
    yield server
    server.stop()


def test_finetune_from_a_published_tag_ends_well_above_chance(tmp_path, published, server):
    out = tmp_path / "run"
    args = ["finetune", published["card"], "--weights", "digits", "--data", f"folder:{published['images']}",
            "--num-classes", "3", "--epochs", "4", "--fine-tune-epochs", "4", "--batch-size", "16",
            "--learning-rate", "3e-3", "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / runs.SUMMARY).read_text())
    chance = 1 / 3  # balanced classes: 8 held-out images each
    print(f"fine-tuned accuracy {summary['accuracy']:.3f} on {summary['test_images']} images, chance {chance:.3f}")
    assert summary["test_images"] == 24 and summary["num_classes"] == 3
    assert summary["accuracy"] >= chance + 0.3
    assert [(s["name"], s["backbone_trainable"], s["epochs"]) for s in summary["steps"]] == [
        ("head", False, 4), ("finetune", True, 4)
    ]
    assert server.requests == ["/" + zoo.get_card(published["card"]).weights["digits"].no_top.file]
    assert f"accuracy {summary['accuracy']:.4f} on 24 held-out images" in result.output

    # The run folder works with the rest of the tools: evaluate, re-run, export.
    evaluated = CliRunner().invoke(main, ["evaluate", str(out), "--dataset", f"folder:{published['images']}", "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.output)["accuracy"] == pytest.approx(summary["accuracy"])
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0 and json.loads((out / runs.SUMMARY).read_text()) == summary

    exported = export_weights(out, name=published["card"], tag="colours", out=tmp_path / "publish")
    model = zoo.get_model(published["card"], num_classes=3, weights=exported["files"]["top"])
    finetuned = tf.keras.models.load_model(str(out / runs.MODEL))
    images = data.as_arrays(data.load(f"folder:{published['images']}", "test", batch_size=8, image_size=16))[0]
    np.testing.assert_allclose(outputs(model, images), outputs(finetuned, images), atol=1e-6)


def test_the_head_step_leaves_the_backbone_as_pretrained_and_the_seed_sets_the_head(tmp_path, published, server):
    def head_step(out):
        finetune(published["card"], weights="digits", dataset=f"folder:{published['images']}", out=out,
                 epochs=1, fine_tune_epochs=0, **FAST)
        return tf.keras.models.load_model(str(out / runs.MODEL))

    finetuned = head_step(tmp_path / "run")
    pretrained = zoo.get_model(published["card"], weights="digits", include_top=False)
    for layer in pretrained.layers:
        if layer.weights:
            for before, after in zip(layer.get_weights(), finetuned.get_layer(layer.name).get_weights()):
                np.testing.assert_array_equal(before, after)
    head = finetuned.get_layer("logits").get_weights()[0]
    assert head.shape == (16, 3)
    # The same run after other random draws in the process (the quickstart builds models first).
    tf.random.uniform((100,))
    np.random.default_rng().normal()
    again = head_step(tmp_path / "again").get_layer("logits").get_weights()[0]
    np.testing.assert_allclose(again, head, rtol=1e-5, atol=1e-6)


def test_the_unfrozen_step_keeps_batch_norms_frozen():
    from dwr_larq.training.finetune import set_backbone_trainable

    backbone = zoo.ResNet18DWR(include_top=False, input_shape=(32, 32, 3))
    set_backbone_trainable(backbone, True)
    norms = [m for m in backbone.submodules if isinstance(m, tf.keras.layers.BatchNormalization)]
    assert norms and not any(norm.trainable for norm in norms)
    assert any("stem_align" in w.name for w in backbone.trainable_weights)  # ChannelAlign's conv trains
    assert backbone.get_layer("stage1_block1_conv").trainable


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(num_classes=5), "--num-classes is 5 but dataset 'folder:.*' has 3 classes"),
        (dict(weights="flowers"), "weights='flowers' is neither a dataset tag listed on the Tiny card"),
        (dict(weights=None), "fine-tuning needs pretrained weights"),
        (dict(epochs=0), "epochs must be an integer >= 1"),
        (dict(fine_tune_learning_rate=-1.0), "fine-tune learning rate must be > 0"),
    ],
)
def test_bad_finetune_arguments_leave_no_run_folder(tmp_path, published, server, kwargs, message):
    arguments = {"weights": "digits", "dataset": f"folder:{published['images']}", "out": tmp_path / "run", **FAST, **kwargs}
    with pytest.raises(ValueError, match=message):
        finetune(published["card"], **arguments)
    assert not (tmp_path / "run").exists()


def test_a_saved_copy_of_a_frozen_backbone_with_nested_layers_keeps_every_weight(tmp_path, rng):
    """A nested layer (ChannelAlign: conv, batch norm, PReLU) lists its trainable weights first,
    so frozen it orders them otherwise: a run that ended on the head step (fine_tune_epochs=0)
    could not save its model."""
    from conftest import randomize_batch_norms, tiny_card
    from dwr_larq.models.layers import ChannelAlign
    from dwr_larq.training import clones

    path = tmp_path / "aligned.json"
    path.write_text(json.dumps(tiny_card(widths=[16, 24])))  # the stem (8) is aligned to 16 channels
    model = zoo.get_model(str(path))
    assert any(isinstance(layer, ChannelAlign) for layer in model.layers)
    randomize_batch_norms(model, rng)
    model.trainable = False
    copy = clones.plain_copy(model)
    assert not model.trainable
    original = {weight.name: weight.numpy() for weight in model.weights}
    for weight in copy.weights:
        np.testing.assert_array_equal(weight.numpy(), original[weight.name])
