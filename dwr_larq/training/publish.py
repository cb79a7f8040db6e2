"""Publishing a finished training run as zoo weights: files, checksums, card entry.

    >>> export_weights("runs/r20dwr", name="ResNet20DWR", tag="cifar10", out="publish")

writes into ``publish/``:

- ``ResNet20DWR-cifar10-<sha8>.h5`` and ``ResNet20DWR-cifar10-notop-<sha8>.h5``:
  the weights with and without the top, as ``get_model("ResNet20DWR", weights=...)``
  loads them (the sha256 prefix in the name lets caches hold several versions);
- ``SHA256SUMS`` (``sha256sum -c`` checks it);
- ``ResNet20DWR.cifar10.entry.json``: the ``{"cifar10": {...}}`` entry for the card;
- ``ResNet20DWR.json``: the whole card with the entry merged in (and ``weights_url``
  when given), ready to replace the card in ``zoo/`` once the files are uploaded.

The weights are the run's final model (``model.keras``), whose accuracy
``summary.json`` reports; ``best/`` is chosen on the held-out split, so its
accuracy would be an optimistic figure to publish. Every file is written
atomically, so an interrupted export leaves no partial file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import tensorflow as tf

from dwr_larq.training import evaluate, runs
from dwr_larq.zoo import cache, weights as weights_lib
from dwr_larq import zoo
from dwr_larq.atomic import temporary_beside, write_atomically
from dwr_larq.zoo.cards import WEIGHTS_TAG, ModelCard, WeightsEntry, card_files


def _check_tag(tag: str) -> str:
    if not isinstance(tag, str) or not WEIGHTS_TAG.match(tag):
        raise ValueError(f"tag {tag!r} must be lower-case letters, digits, '_', '.' or '-' (e.g. imagenet, cifar10)")
    return tag


def finished_run(run_dir) -> runs.RunDir:
    """The run at ``run_dir``, refusing anything that is not a finished run."""
    run = runs.RunDir(run_dir)
    if not run.path.is_dir() or run.config() is None:
        raise ValueError(f"{str(run_dir)!r} is not a dwr-larq run directory (no {runs.CONFIG})")
    if not run.complete:
        raise ValueError(
            f"run directory {str(run_dir)!r} is not finished (no {runs.SUMMARY}); run its training command "
            "again to complete it before exporting"
        )
    return run


def _copy_into(trained, model) -> None:
    """Copy the trained layers into ``model`` (built from the card) by name, after
    checking that every layer fits. Unfreezing first puts every layer's weights in
    the order a freshly built model has (frozen layers list them differently)."""
    trained.trainable = True
    weights_lib.compare_layers(model, weights_lib.model_layers(trained), f"the run's model {trained.name!r}")
    by_name = {layer.name: layer for layer in trained.layers}
    for layer in model.layers:
        if layer.weights:
            layer.set_weights(by_name[layer.name].get_weights())


def _save_weights(model, out: Path, stem: str) -> tuple:
    """Save ``model``'s weights as HDF5 under ``out``, named ``<stem>-<sha8>.h5``; atomic."""
    with temporary_beside(out / f"{stem}.h5") as temporary:
        model.save_weights(str(temporary), save_format="h5")
        digest = cache.sha256(temporary)
        target = out / f"{stem}-{digest[:8]}.h5"
        os.replace(temporary, target)
    return target, digest


def _write_text(path: Path, text: str) -> None:
    """Atomic write, then 0644 whatever the umask: these files get uploaded and served
    by others (``write_atomically`` gives the permissions an ordinary ``open`` would)."""
    write_atomically(path, text)
    os.chmod(path, 0o644)


def _shipped_card_file(card: ModelCard) -> str | None:
    for entry in card_files():
        if json.loads(entry.read_text()).get("name") == card.name:
            return f"zoo/{entry.name}"
    return None


def export_weights(run_dir, *, name: str, tag: str, out, base_url: str | None = None) -> dict:
    """Write the weight files, checksums, card entry and card for run ``run_dir``.

    Args:
        run_dir: a finished ``dwr-larq train`` or ``dwr-larq finetune`` run folder.
        name: the zoo model (or card ``.json``) the weights are for; every layer must fit.
        tag: the weights tag on the card, e.g. ``imagenet`` or ``cifar10``.
        out: folder to write into (created if missing).
        base_url: where the files will be served; written to the card as ``weights_url``.

    Returns a dict with the written paths, the entry and the card.
    """
    _check_tag(tag)
    card = zoo.get_card(name)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {str(out)!r} exists and is not a directory")
    run = finished_run(run_dir)
    trained = evaluate.load_keras(run.path)
    size, channels = trained.input_shape[1], trained.input_shape[-1]
    num_classes = int(trained.output_shape[-1])
    # A named input keeps the files byte-identical across exports of the same run
    # (Keras numbers unnamed inputs per session, and HDF5 files list every layer name).
    top = zoo.build_from_card(
        card, input_tensor=tf.keras.Input((size, size, channels), name="input"), num_classes=num_classes
    )
    no_top = zoo.build_from_card(
        card, input_tensor=tf.keras.Input((size, size, channels), name="input"), include_top=False
    )
    _copy_into(trained, top)
    _copy_into(trained, no_top)
    probe = np.random.default_rng(0).uniform(-1, 1, (2, size, size, channels)).astype(np.float32)
    if not np.allclose(top(probe, training=False), trained(probe, training=False), atol=1e-5):
        raise RuntimeError(f"the model rebuilt from {card.name}'s card does not reproduce the run's predictions")

    out.mkdir(parents=True, exist_ok=True)
    top_file, top_sha = _save_weights(top, out, f"{card.name}-{tag}")
    no_top_file, no_top_sha = _save_weights(no_top, out, f"{card.name}-{tag}-notop")
    summary, config = run.summary(), run.config()
    provenance = {
        "model": config.get("model"),
        "dataset": config.get("dataset"),
        "train_images": summary.get("train_images"),
        "test_images": summary.get("test_images"),
        "input_size": size,
        "channels": channels,
        "recipe": config.get("recipe"),
        "weights": config.get("weights"),
        "epochs": summary.get("epochs"),
        "batch_size": config.get("batch_size"),
        "seed": config.get("seed"),
        "accuracy_keras": summary.get("accuracy"),
        "checkpoint": "final epoch (model.keras)",
    }
    entry = WeightsEntry.from_dict(tag, {
        "num_classes": num_classes,
        "input_size": size,
        "channels": channels,
        "top": {"file": top_file.name, "sha256": top_sha},
        "no_top": {"file": no_top_file.name, "sha256": no_top_sha},
        "trained": {key: value for key, value in provenance.items() if value is not None},
    }, "export")

    sums = out / "SHA256SUMS"
    lines = {line[66:]: line for line in (sums.read_text().splitlines() if sums.is_file() else []) if len(line) > 66}
    for path, digest in ((top_file, top_sha), (no_top_file, no_top_sha)):
        lines[path.name] = f"{digest}  {path.name}"
    _write_text(sums, "".join(f"{line}\n" for line in lines.values()))
    entry_path = out / f"{card.name}.{tag}.entry.json"
    _write_text(entry_path, json.dumps({tag: entry.to_dict()}, indent=2) + "\n")

    card_path = out / f"{card.name}.json"
    previous = ModelCard.from_dict(json.loads(card_path.read_text()), str(card_path)) if card_path.is_file() else card
    merged = previous.to_dict()
    merged["weights"] = {**merged["weights"], tag: entry.to_dict()}
    if base_url:
        merged["weights_url"] = base_url
    ModelCard.from_dict(merged, "exported card")  # the card we write must load
    _write_text(card_path, json.dumps(merged, indent=2) + "\n")
    return {
        "files": {"top": str(top_file), "no_top": str(no_top_file)},
        "sha256": {"top": top_sha, "no_top": no_top_sha},
        "entry": {tag: entry.to_dict()},
        "entry_file": str(entry_path),
        "card_file": str(card_path),
        "shipped_card": _shipped_card_file(card),
        "checksums": str(sums),
    }
