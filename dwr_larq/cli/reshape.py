"""``dwr-larq reshape``: run DWR on a zoo backbone (or a card) and write a new card."""

from __future__ import annotations

import json

import click

from dwr_larq.cli.common import DATA_DIR_HELP, DATASET_HELP, POSITIVE_INT, quiet_tensorflow

from dwr_larq import dwr, reshaping, zoo
from dwr_larq.atomic import check_output_path, write_atomically
from dwr_larq.dwr.budget import LCE_DIVISOR, Budget
from dwr_larq.zoo.cards import ModelCard, SourceKind


class EpsType(click.ParamType):
    """A DBSCAN eps: a number (checked by the search) or 'auto'."""

    name = "EPS|auto"

    def convert(self, value, param, ctx):
        if isinstance(value, float) or value == "auto":
            return value
        try:
            return float(value)
        except ValueError:
            self.fail(f"{value!r} is neither a number nor 'auto'", param, ctx)


EPS = EpsType()


def load_split(dataset: str, split: str, size: int, limit: int | None, batch_size: int, data_dir, training: bool):
    """A batched ``(images, labels)`` dataset of ``split``, cut to ``limit`` images, and its class count."""
    from dwr_larq.training import data

    pipe = data.load(dataset, split, batch_size=batch_size, image_size=size, data_dir=data_dir, training=training)
    images = pipe.dataset
    if limit:
        images = images.unbatch().take(limit).batch(batch_size)
    return images, pipe.num_classes, min(limit or pipe.num_examples, pipe.num_examples)


def describe(source_name, source_dataset, s, final, dataset, input_size) -> str:
    text = (
        f"{source_name} reshaped by DWR (s={s}): depths {list(final.depths)}, widths {list(final.widths)}; "
        f"widths searched on {dataset} at {input_size}px"
    )
    if dataset != source_dataset:
        text += f", not {source_dataset}: a search on {source_dataset} may give other widths"
    return text + "."


def dwr_card(result: dwr.DWRResult, name: str, source: ModelCard, dataset: str, input_size: int) -> ModelCard:
    """A zoo card for a DWR result, with its provenance and measured figures."""
    figures = reshaping.card_figures(result.final, result.original, arm=result.settings.get("budget") == Budget.ARM)
    provenance = {
        "kind": SourceKind.DWR,
        "reshaped_from": source.name,
        "reference": "Xue et al., AAAI 2023: naive reshaping, pruning-guided width search, budget matching",
        "dataset": dataset,
        "input_size": input_size,
        **result.provenance(),
    }
    description = describe(source.name, source.dataset, result.settings["s"], result.final, dataset, input_size)
    return ModelCard(name, source.dataset, description, result.final, provenance, {}, figures)


@click.command("reshape")
@click.argument("name_or_card")
@click.option("--s", "s", type=float, default=2.0, show_default=True, help="Depth divisor.")
@click.option("--dataset", default="digits", show_default=True, help="Pre-training and calibration data, both from its train split: " + DATASET_HELP)
@click.option("--data-dir", type=click.Path(file_okay=False), help=DATA_DIR_HELP)
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="The card .json to write.")
@click.option("--name", help="Model name on the card (default: NAME + 'DWR').")
@click.option("--input-size", type=click.IntRange(min=8), help="Image side for pre-training (default: the spec's).")
@click.option("--pretrain-epochs", type=POSITIVE_INT, default=3, show_default=True)
@click.option("--train-images", type=click.IntRange(min=2), help="Use only this many training images.")
@click.option("--calibration-images", type=click.IntRange(min=2),
              help="Training images the search averages over  [default: the authors' 400 (CIFAR-sized) or 200 (ImageNet-sized)]")
@click.option("--eps", type=EPS, help="DBSCAN eps (cosine distance) in (0, 2], or 'auto' (each stage's k-distance knee)  "
                                      "[default: the authors' 0.021 (CIFAR-sized) or 0.008 (ImageNet-sized)]")
@click.option("--min-samples", type=POSITIVE_INT, default=5, show_default=True)
@click.option("--divisor", type=POSITIVE_INT, default=LCE_DIVISOR, show_default=True,
              help="Every width a multiple of this (32: what LCE bitpacks in whole words).")
@click.option("--budget", type=click.Choice([budget.value for budget in Budget]), default="binary_macs", show_default=True,
              help="What the final widths match: binary MACs, OPs, latency on this host or the ARM estimate.")
@click.option("--tolerance", type=float, default=0.05, show_default=True)
@click.option("--batch-size", type=POSITIVE_INT, default=64, show_default=True)
def reshape_command(name_or_card, s, dataset, data_dir, out, name, input_size, pretrain_epochs, train_images,
                    calibration_images, eps, min_samples, divisor, budget, tolerance, batch_size):
    """Apply DWR to a backbone and write the result as a zoo card (load it with get_model)."""
    quiet_tensorflow()
    check_output_path(out)
    source = zoo.get_card(name_or_card)
    if budget == Budget.ARM:  # before pre-training: a spec that does not convert has no ARM budget
        reshaping.measure_arm(source.spec)
    from dwr_larq.dwr.search import check_search_settings, search_defaults

    size = input_size or source.spec.input_size
    defaults = search_defaults(size)
    eps = defaults.eps if eps is None else eps
    check_search_settings(eps, min_samples)
    train, classes, train_count = load_split(dataset, "train", size, train_images, batch_size, data_dir, True)
    # Calibration images come from the training split (the authors drew theirs from the test split).
    calibration, _, calibration_count = load_split(dataset, "train", size, calibration_images or defaults.calibration_images,
                                                   batch_size, data_dir, False)
    click.echo(f"DWR on {source.name}: s={s}, eps={eps}, {train_count} training images, {calibration_count} of them "
               f"for calibration, at {size}px")
    result = reshaping.reshape(
        source.spec, train, calibration, s=s, pretrain_epochs=pretrain_epochs, eps=eps,
        min_samples=min_samples, divisor=divisor, budget=budget, tolerance=tolerance,
        batch_size=batch_size, verbose=2, num_classes=classes,
    )
    result.settings.update(calibration_images=calibration_count, calibration_split="train",
                           authors_eps=defaults.eps)
    card = dwr_card(result, name or f"{source.name}DWR", source, dataset, size)
    write_atomically(out, json.dumps(card.to_dict(), indent=2) + "\n")
    click.echo(f"naive:    depths {list(result.naive.depths)} widths {list(result.naive.widths)}")
    for stage in result.stages:
        click.echo(f"  stage {stage.stage}: eps {stage.eps:.4g}: {stage.channels} channels -> {stage.clusters} clusters "
                   f"+ {stage.noise} noise")
    click.echo(f"searched: widths {list(result.searched.widths)}")
    click.echo(f"final:    depths {list(result.final.depths)} widths {list(result.final.widths)}")
    arm = f", ARM estimate x{card.figures['arm_vs_source']}" if "arm_vs_source" in card.figures else ""
    click.echo(f"binary MACs x{card.figures['binary_macs_vs_source']}, activations x{card.figures['activations_vs_source']}{arm} of {source.name}")
    click.echo(f"wrote {out}")
