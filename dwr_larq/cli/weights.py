"""``dwr-larq export-weights`` and ``dwr-larq finetune``."""

from __future__ import annotations

import json

import click

from dwr_larq.cli.common import DATA_DIR_HELP, DATASET_HELP, POSITIVE_INT, quiet_tensorflow
from dwr_larq.cli.train import compute_options


@click.command("export-weights")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--name", required=True, help="The zoo model (or card .json) the weights are for.")
@click.option("--tag", required=True, help="Weights tag on the card, e.g. imagenet or cifar10.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder for the files (created if missing).")
@click.option("--base-url", help="Where the files will be served; written to the card as weights_url.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def export_weights_command(run_dir, name, tag, out, base_url, as_json):
    """Publish finished training run RUN_DIR as zoo weights for NAME.

    Writes the weights with and without the top (HDF5, named with a sha256 prefix),
    SHA256SUMS, the card entry as JSON, and the whole card with the entry merged in.
    """
    quiet_tensorflow()
    from dwr_larq.training.publish import export_weights

    result = export_weights(run_dir, name=name, tag=tag, out=out, base_url=base_url)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    for variant in ("top", "no_top"):
        click.echo(f"wrote {result['files'][variant]}  sha256 {result['sha256'][variant]}")
    click.echo(f"card entry ({result['entry_file']}):")
    click.echo(json.dumps(result["entry"], indent=2))
    target = result["shipped_card"] or "your card file"
    click.echo(
        f"card with the entry: {result['card_file']}; upload the two .h5 files to the card's weights_url "
        f"(or set DWR_LARQ_WEIGHTS_URL to where they are), then copy it over {target}"
    )


@click.command("finetune")
@click.argument("name")
@click.option("--weights", required=True, help="Pretrained weights: a tag on NAME's card, or a weights file.")
@click.option("--dataset", "--data", "dataset", required=True, help=DATASET_HELP)
@click.option("--num-classes", type=click.IntRange(min=2), help="Classes of the new head (checked against the data).")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Run directory (re-run the same command to resume).")
@click.option("--epochs", type=POSITIVE_INT, default=5, show_default=True, help="Epochs with the backbone frozen.")
@click.option("--fine-tune-epochs", type=click.IntRange(min=0), default=5, show_default=True, help="Epochs with the backbone unfrozen.")
@click.option("--batch-size", type=POSITIVE_INT, default=32, show_default=True)
@click.option("--learning-rate", type=float, default=1e-3, show_default=True, help="Adam learning rate of the frozen step.")
@click.option("--fine-tune-learning-rate", type=float, help="Learning rate of the unfrozen step  [default: learning rate / 10]")
@click.option("--input-size", type=POSITIVE_INT, help="Square input side (default: the weights' or the model's).")
@click.option("--data-dir", type=click.Path(), help=DATA_DIR_HELP)
@click.option("--seed", type=int, default=0, show_default=True)
@compute_options
def finetune_command(name, weights, dataset, num_classes, out, epochs, fine_tune_epochs, batch_size, learning_rate,
                     fine_tune_learning_rate, input_size, data_dir, seed, strategy, mixed_precision, jit_compile,
                     steps_per_execution):
    """Fine-tune zoo model NAME (or a card .json) from pretrained weights on your classes.

    The backbone is frozen while a new head learns, then unfrozen (batch norms
    excepted) at a lower learning rate. The run folder works with `dwr-larq
    evaluate` and `dwr-larq export-weights`.
    """
    quiet_tensorflow()
    from dwr_larq.training.finetune import finetune

    summary = finetune(
        name, weights=weights, dataset=dataset, out=out, num_classes=num_classes, epochs=epochs,
        fine_tune_epochs=fine_tune_epochs, batch_size=batch_size, learning_rate=learning_rate,
        fine_tune_learning_rate=fine_tune_learning_rate, input_size=input_size, data_dir=data_dir, seed=seed,
        strategy=strategy, mixed_precision=mixed_precision, jit_compile=jit_compile,
        steps_per_execution=steps_per_execution,
    )
    click.echo(
        f"{summary['model']} fine-tuned on {summary['dataset']} ({summary['num_classes']} classes): accuracy "
        f"{summary['accuracy']:.4f} on {summary['test_images']} held-out images after {summary['epochs']} epochs "
        f"(chance {1 / summary['num_classes']:.4f} with balanced classes)"
    )
    click.echo(f"run directory: {out}")
