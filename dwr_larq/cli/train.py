"""``dwr-larq train`` and ``dwr-larq evaluate``."""

from __future__ import annotations

import json
import os

import click

from dwr_larq.cli.common import DATA_DIR_HELP, DATASET_HELP, POSITIVE_INT, UNSAFE_OPTION, quiet_tensorflow

from dwr_larq.training.precision import AUTO, MIXED_POLICIES
from dwr_larq.training.recipes import RECIPES
from dwr_larq.training.strategy import STRATEGIES


def compute_options(command):
    """--strategy, --mixed-precision, --jit-compile and --steps-per-execution, for every command that trains."""
    for option in reversed((
        click.option("--strategy", type=click.Choice(STRATEGIES), default="auto", show_default=True,
                     help="tf.distribute strategy: auto (mirrored if >1 GPU), one, mirrored, multiworker (TF_CONFIG), "
                          "tpu (TPU_NAME)."),
        click.option("--mixed-precision", type=click.Choice([AUTO, *MIXED_POLICIES]), is_flag=False, flag_value=AUTO,
                     help="Mixed precision: alone, mixed_float16 on GPU and mixed_bfloat16 on TPU/CPU; or a policy."),
        click.option("--jit-compile", is_flag=True, help="Compile train steps with XLA."),
        click.option("--steps-per-execution", type=POSITIVE_INT, default=1, show_default=True,
                     help="Train steps per tf.function call."),
    )):
        command = option(command)
    return command



def _echo_summary(summary: dict) -> None:
    click.echo(
        f"{summary['model']} on {summary['dataset']}: accuracy {summary['accuracy']:.4f} after "
        f"{summary['epochs']}/{summary['planned_epochs']} epochs, "
        f"{summary['images_per_second']} images/s, {summary['wall_seconds']}s of training"
    )


def _echo_plan(plan: dict) -> None:
    """The dry run's plan, one fact a line."""
    click.echo(f"plan: {plan['model']} on {plan['dataset']} with recipe {plan['recipe']} (nothing is trained)")
    if plan["source"]:
        click.echo(f"  source            {plan['source']}")
    for step in plan["steps"]:
        weights = "binary" if step["binary_weights"] else "real-valued"
        click.echo(f"  step {step['name']:<12} {step['epochs']} epochs, {weights} weights, weight decay {step['weight_decay']:g}")
    click.echo(f"  global batch      {plan['global_batch']} = {plan['replicas']} replica(s) x {plan['per_replica_batch']}")
    click.echo(f"  learning rate     {plan['learning_rate']:g} ({plan['learning_rate_rule']})")
    click.echo(f"  schedule          {plan['schedule']}; {plan['optimizer']}")
    click.echo(f"  label smoothing   {plan['label_smoothing']:g}; lighting {plan['lighting']:g}")
    teacher = plan["teacher"] or "none"
    if plan["recipe_teacher"]:
        teacher += f" (the authors distilled from {plan['recipe_teacher']})"
    if plan["distill_weight"] is not None:
        teacher += f"; loss {plan['distill_weight']:g} x KL(teacher || student) + {1 - plan['distill_weight']:g} x CE"
    if plan["recipe_teacher"] and not plan["teacher"]:
        teacher += "; training refuses to start without --teacher"
    click.echo(f"  teacher           {teacher}")
    click.echo(f"  strategy          {plan['strategy']} on {plan['device']}: {plan['replicas']} replica(s), {plan['workers']} worker(s)")
    click.echo(f"  mixed precision   {plan['mixed_precision'] or 'off (float32)'}; jit_compile {plan['jit_compile']}; "
               f"steps_per_execution {plan['steps_per_execution']}")
    click.echo(f"  steps per epoch   {plan['steps_per_epoch']} ({plan['train_images']} training images, from "
               f"{plan['train_images_from']}); {plan['total_steps']} steps in all")


@click.command("train")
@click.argument("name")
@click.option("--dataset", required=True, help=DATASET_HELP)
@click.option("--epochs", type=POSITIVE_INT, help="Total epochs, split over the recipe's steps  [default: the recipe's, if it has one]")
@click.option("--batch-size", type=POSITIVE_INT, help="Global batch: images per step over all replicas  [default: the recipe's reference batch, if it has one]")
@click.option("--recipe", type=click.Choice(sorted(RECIPES)), default="reactnet", show_default=True)
@click.option("--teacher", help="Distil from a saved Keras model (file, folder or run folder) or a tf.keras.applications name.")
@UNSAFE_OPTION
@click.option("--data-dir", type=click.Path(), help=DATA_DIR_HELP)
@click.option("--input-size", type=POSITIVE_INT, help="Square input side (default: the model's).")
@click.option("--channels", type=click.Choice(["1", "3"]), help="Input channels (default: the dataset's; grey datasets stay grey).")
@click.option("--learning-rate", type=float, help="Peak learning rate (default: the recipe's, scaled linearly from its reference batch if it has one).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", type=click.Path(file_okay=False), help="Run directory (re-run the same command to resume); required unless --dry-run.")
@compute_options
@click.option("--dry-run", is_flag=True, help="Print the full plan (steps, batches, learning rate, strategy, steps per epoch) and stop.")
def train_command(name, dataset, epochs, batch_size, recipe, teacher, data_dir, input_size, channels, learning_rate, seed, out,
                  strategy, mixed_precision, jit_compile, steps_per_execution, dry_run):
    """Train zoo model NAME (or a card .json file) with plain Keras fit.

    A run killed at any point continues where it stopped when the same command is
    run again; a finished run prints its summary.
    """
    quiet_tensorflow()
    from dwr_larq.training.train import describe, train

    options = dict(dataset=dataset, epochs=epochs, batch_size=batch_size, recipe=recipe, teacher=teacher,
                   data_dir=data_dir, input_size=input_size, learning_rate=learning_rate, strategy=strategy,
                   mixed_precision=mixed_precision, jit_compile=jit_compile, steps_per_execution=steps_per_execution)
    if dry_run:
        _echo_plan(describe(name, **options))
        return
    if out is None:
        raise click.UsageError("Missing option '--out' (the run directory); only --dry-run needs none.")

    from dwr_larq.training.distill import is_application

    if teacher and not os.path.exists(teacher) and is_application(teacher):
        click.echo(
            f"note: teacher {teacher!r} is built from tf.keras.applications with random weights (nothing is "
            "downloaded); pass a trained saved model for distillation that helps",
            err=True,
        )
    summary = train(name, out=out, seed=seed, channels=int(channels) if channels else None, **options)
    if summary.get("chief") is False:
        click.echo(f"worker {summary['worker']} finished; the chief wrote the run directory")
        return
    _echo_summary(summary)
    click.echo(f"run directory: {out}")


@click.command("evaluate")
@click.argument("target", type=click.Path(exists=True))
@click.option("--dataset", required=True, help=DATASET_HELP)
@click.option("--data-dir", type=click.Path(), help=DATA_DIR_HELP)
@click.option("--batch-size", type=POSITIVE_INT, default=64, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@UNSAFE_OPTION
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


@click.command("data-bench")
@click.option("--dataset", help="Dataset to read (default: a generated folder of JPEGs). " + DATASET_HELP)
@click.option("--data-dir", type=click.Path(), help=DATA_DIR_HELP)
@click.option("--generate", "generated", type=POSITIVE_INT, default=256, show_default=True,
              help="Without --dataset: JPEGs (500x375) to generate in --cache-dir.")
@click.option("--cache-dir", type=click.Path(file_okay=False),
              help="Where generated JPEGs are kept (reused) [default: $DWR_LARQ_HOME/data-bench].")
@click.option("--cores", default="1,all", show_default=True, help="Comma-separated thread counts for tf.data ('all': every core).")
@click.option("--batch-size", type=POSITIVE_INT, default=64, show_default=True)
@click.option("--input-size", type=POSITIVE_INT, default=224, show_default=True)
@click.option("--batches", type=POSITIVE_INT, default=20, show_default=True, help="Timed batches per core count.")
@click.option("--lighting", type=click.FloatRange(min=0), default=0.1, show_default=True, help="PCA lighting std (the ImageNet recipes').")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
def data_bench_command(dataset, data_dir, generated, cache_dir, cores, batch_size, input_size, batches, lighting, as_json):
    """Images per second (and per CPU core) of the training input pipeline: decode,
    random resized crop, lighting, flip. Size CPU cores per accelerator from it."""
    quiet_tensorflow()
    from dwr_larq.training import databench

    counts = []
    for item in cores.split(","):
        item = item.strip()
        if item == "all":
            counts.append(databench.available_cores())
        elif item.isdigit() and int(item) > 0:
            counts.append(int(item))
        else:
            raise click.BadParameter(f"{item!r} is not a positive core count or 'all'", param_hint="'--cores'")
    if dataset is None:
        from dwr_larq import home

        folder = databench.generate_jpegs(os.path.expanduser(cache_dir) if cache_dir else home.folder(home.Folder.DATA_BENCH),
                                          images=generated)
        dataset = f"folder:{folder}"
    rows = [
        databench.bench(dataset, cores=count, batch_size=batch_size, image_size=input_size, batches=batches,
                        lighting=lighting, data_dir=data_dir).to_dict()
        for count in dict.fromkeys(counts)
    ]
    if as_json:
        click.echo(json.dumps({"dataset": dataset, "input_size": input_size, "batch_size": batch_size, "rows": rows}, indent=2))
        return
    click.echo(f"training pipeline of {dataset} at {input_size}x{input_size}, batch {batch_size}:")
    for row in rows:
        click.echo(f"  {row['cores']} core(s): {row['images_per_second']:.1f} images/s, "
                   f"{row['images_per_second_per_core']:.1f} images/s per core")
