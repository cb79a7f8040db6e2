"""``dwr-larq quickstart``: the main job, end to end on the embedded digits set.

Trains the CIFAR ResNet-18 (original and DWR) with the two-step ReActNet recipe on
a short schedule, converts both with LCE, evaluates the flatbuffers in LCE's
interpreter on the held-out split, times them, and prints one table. Runs resume:
a second call reuses finished runs and prints the table again.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from dwr_larq.cli.common import POSITIVE_INT

from dwr_larq.atomic import write_atomically
from dwr_larq.models.costs import format_count

MODELS = ("ResNet18CIFAR", "ResNet18CIFARDWR")
DATASET = "digits"
# The short schedule: 3 + 3 epochs. Measured on a 2-core VM: 8.6 min with one other job
# running, 11-13 min with two or three; the DWR model reached 98.6-99.4% in 3 runs.
EPOCHS = 6
BATCH_SIZE = 32
LEARNING_RATE = 2e-3
RECIPE = "reactnet"


def run_model(name: str, out: Path, *, epochs: int, batch_size: int, learning_rate: float, log=print) -> dict:
    """Train, convert, evaluate and time one model; returns its table row."""
    import tensorflow as tf

    from dwr_larq.deploy import convert
    from dwr_larq.training import data, evaluate, runs
    from dwr_larq.models import costs
    from dwr_larq import zoo
    from dwr_larq.training.train import train

    label = zoo.get_card(name).name  # a zoo name, or the name inside a card file
    run_dir = out / label
    log(f"[{label}] training ({RECIPE} recipe, {epochs} epochs, batch {batch_size}, lr {learning_rate}) in {run_dir}")
    summary = train(
        name, dataset=DATASET, epochs=epochs, batch_size=batch_size, out=run_dir, recipe=RECIPE,
        learning_rate=learning_rate, verbose=2,
    )
    model = tf.keras.models.load_model(str(run_dir / runs.MODEL), compile=False)
    tflite = out / f"{label}.tflite"
    log(f"[{label}] converting with LCE to {tflite}")
    report = convert.convert(model, tflite)
    flatbuffer = tflite.read_bytes()
    size = model.input_shape[1]
    test = data.load(DATASET, "test", batch_size=64, image_size=size)
    keras = evaluate.keras_accuracy(model, test)
    lite = evaluate.tflite_accuracy(flatbuffer, test)
    latency = evaluate.tflite_latency(flatbuffer)
    figures = costs.measure(model)
    return {
        "model": label,
        "keras_accuracy": keras[evaluate.ACCURACY],
        "tflite_accuracy": lite[evaluate.ACCURACY],
        "test_images": keras["images"],
        "binary_macs": figures.binary_macs,
        "activations": figures.activations,
        "size_bytes": figures.size_bytes,
        "tflite_bytes": report.size_bytes,
        "lce_bconv_ops": report.binary_convs,
        "binary_convs": figures.binary_convs,
        "latency_ms": latency["latency_ms"],
        "train_images_per_second": summary["images_per_second"],
        "train_seconds": summary["wall_seconds"],
        "epochs": summary["epochs"],
    }


COLUMNS = (
    ("model", "model", "{}"),
    ("Keras acc", "keras_accuracy", "{:.2%}"),
    ("TFLite acc", "tflite_accuracy", "{:.2%}"),
    ("binary MACs", "binary_macs", format_count),
    ("activations", "activations", format_count),
    ("size", "size_bytes", lambda v: f"{v / 2**20:.2f} MiB"),
    ("latency", "latency_ms", "{:.2f} ms"),
    ("train img/s", "train_images_per_second", "{:.1f}"),
)


def table(rows: list) -> str:
    """The side-by-side table, one row per model."""
    cells = [[name for name, _, _ in COLUMNS]]
    for row in rows:
        cells.append([fmt(row[key]) if callable(fmt) else fmt.format(row[key]) for _, key, fmt in COLUMNS])
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(width) if i == 0 else cell.rjust(width) for i, (cell, width) in enumerate(zip(line, widths))) for line in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


@click.command("quickstart")
@click.option("--out", type=click.Path(file_okay=False), default="dwr-larq-quickstart", show_default=True, help="Where runs and flatbuffers go (re-running reuses finished runs).")
@click.option("--epochs", type=POSITIVE_INT, default=EPOCHS, show_default=True)
@click.option("--batch-size", type=POSITIVE_INT, default=BATCH_SIZE, show_default=True)
@click.option("--learning-rate", type=float, default=LEARNING_RATE, show_default=True)
def quickstart_command(out, epochs, batch_size, learning_rate):
    """Train, convert and compare the CIFAR ResNet-18 and its DWR reshape on the embedded
    digits set (no download), in about 9 minutes on 2 CPU cores."""
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    start = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in MODELS:
        rows.append(run_model(name, out, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, log=click.echo))
    seconds = time.perf_counter() - start
    write_atomically(out / "quickstart.json", json.dumps({"rows": rows, "seconds": round(seconds, 1)}, indent=2) + "\n")
    click.echo("")
    click.echo(f"{DATASET}: {rows[0]['test_images']} held-out images; {RECIPE} recipe, {epochs} epochs; latency: LCE interpreter on this host, 1 thread")
    click.echo(table(rows))
    for row in rows:
        gap = abs(row["keras_accuracy"] - row["tflite_accuracy"]) * 100
        click.echo(f"{row['model']}: TFLite vs Keras accuracy {gap:.2f} points apart; {row['lce_bconv_ops']} LceBconv2d for {row['binary_convs']} binary convs")
    click.echo(f"done in {seconds:.0f}s; runs, flatbuffers and quickstart.json in {out}")
