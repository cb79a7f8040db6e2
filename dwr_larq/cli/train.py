"""``dwr-larq train`` and ``dwr-larq evaluate``."""

from __future__ import annotations

import json
import os

import click

from dwr_larq.cli.common import POSITIVE_INT, quiet_tensorflow

from dwr_larq.training.recipes import RECIPES

DATASET_HELP = "digits (embedded, no download), cifar10, imagenet2012, any tensorflow-datasets name, or folder:PATH."



def _echo_summary(summary: dict) -> None:
    click.echo(
        f"{summary['model']} on {summary['dataset']}: accuracy {summary['accuracy']:.4f} after "
        f"{summary['epochs']}/{summary['planned_epochs']} epochs, "
        f"{summary['images_per_second']} images/s, {summary['wall_seconds']}s of training"
    )


@click.command("train")
@click.argument("name")
@click.option("--dataset", required=True, help=DATASET_HELP)
@click.option("--epochs", required=True, type=POSITIVE_INT, help="Total epochs, split over the recipe's steps.")
@click.option("--batch-size", required=True, type=POSITIVE_INT, help="Images per batch.")
@click.option("--recipe", type=click.Choice(sorted(RECIPES)), default="reactnet", show_default=True)
@click.option("--teacher", help="Distil from a saved Keras model (file, folder or run folder) or a tf.keras.applications name.")
@click.option("--data-dir", type=click.Path(), help="Where tensorflow-datasets are prepared (nothing is downloaded).")
@click.option("--input-size", type=POSITIVE_INT, help="Square input side (default: the model's).")
@click.option("--channels", type=click.Choice(["1", "3"]), help="Input channels (default: the dataset's; grey datasets stay grey).")
@click.option("--learning-rate", type=float, help="Peak learning rate (default: the recipe's).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Run directory (re-run the same command to resume).")
def train_command(name, dataset, epochs, batch_size, recipe, teacher, data_dir, input_size, channels, learning_rate, seed, out):
    """Train zoo model NAME (or a card .json file) with plain Keras fit.

    A run killed at any point continues where it stopped when the same command is
    run again; a finished run prints its summary.
    """
    quiet_tensorflow()
    from dwr_larq.training.train import train

    from dwr_larq.training.distill import is_application

    if teacher and not os.path.exists(teacher) and is_application(teacher):
        click.echo(
            f"note: teacher {teacher!r} is built from tf.keras.applications with random weights (nothing is "
            "downloaded); pass a trained saved model for distillation that helps",
            err=True,
        )
    summary = train(
        name,
        dataset=dataset,
        epochs=epochs,
        batch_size=batch_size,
        out=out,
        recipe=recipe,
        teacher=teacher,
        data_dir=data_dir,
        input_size=input_size,
        learning_rate=learning_rate,
        seed=seed,
        channels=int(channels) if channels else None,
    )
    _echo_summary(summary)
    click.echo(f"run directory: {out}")


@click.command("evaluate")
@click.argument("target", type=click.Path(exists=True))
@click.option("--dataset", required=True, help=DATASET_HELP)
@click.option("--data-dir", type=click.Path(), help="Where tensorflow-datasets are prepared.")
@click.option("--batch-size", type=POSITIVE_INT, default=64, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def evaluate_command(target, dataset, data_dir, batch_size, as_json):
    """Top-1 accuracy of a run directory, a .keras model or a .tflite flatbuffer
    (through LCE's interpreter) on the dataset's held-out split."""
    quiet_tensorflow()
    from dwr_larq.training import evaluate

    result = evaluate.evaluate(target, dataset, batch_size=batch_size, data_dir=data_dir)
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        click.echo(f"{result['target']} ({result['kind']}) on {dataset}: accuracy {result['accuracy']:.4f} on {result['images']} images")
