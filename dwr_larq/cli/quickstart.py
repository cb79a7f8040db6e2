"""``dwr-larq quickstart``: the whole user path in a few minutes, on real data.

1. Load the zoo's shipped Fashion-MNIST weights of ResNet20, its DWR reshape
   ResNet20DWR and the LCE-tuned reshape ResNet20DWRLCE (``zoo.X(weights="fashion_mnist")``:
   no download).
2. Evaluate them on all 10,000 Fashion-MNIST test images, in Keras and, converted with
   LCE, in LCE's interpreter.
3. Print their costs side by side: binary MACs, activations, size, latency on this host
   and the ARM estimate (``dwr_larq.deploy.arm_cost``: instructions per inference of
   LCE's aarch64 kernels, estimated from the flatbuffer's ops).
4. Transfer learning: fine-tune the last of them (the LCE-tuned DWR backbone) on
   scikit-learn's digits (bundled, no download) and report its accuracy.

When Fashion-MNIST is absent and cannot be downloaded, it says how to get it and runs
the steps that need no Fashion-MNIST (costs, latency, transfer learning). Results go
to ``--out``; a second call reuses the fine-tuning run and the flatbuffers.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from dwr_larq.atomic import write_atomically
from dwr_larq.cli.common import POSITIVE_INT, quiet_tensorflow

MODELS = ("ResNet20", "ResNet20DWR", "ResNet20DWRLCE")  # the last one is fine-tuned
TAG = DATASET = "fashion_mnist"
TRANSFER_DATASET = "digits"
TRANSFER_EPOCHS = 3
TRANSFER_FINE_TUNE_EPOCHS = 2
LATENCY_RUNS = 50


def _count(value) -> str:
    from dwr_larq.formatting import format_count

    return format_count(value)


def _percent(value) -> str:
    return "n/a" if value is None else f"{value:.2%}"


def model_row(name: str, out: Path, source, log=print) -> dict:
    """Load one zoo model with its shipped weights, convert it, and measure it; ``source``
    is Fashion-MNIST, or None when the data is not available."""
    from dwr_larq import zoo
    from dwr_larq.deploy import arm_cost, convert
    from dwr_larq.deploy.accuracy import keras_and_lce_accuracy
    from dwr_larq.deploy.timer import LocalTimer
    from dwr_larq.models import costs
    from dwr_larq.training import data

    model = zoo.get_model(name, weights=TAG)
    label = model.name
    tflite = out / f"{label}.tflite"
    if not tflite.is_file():
        log(f"[{label}] converting with LCE to {tflite}")
        convert.convert(model, tflite)
    flatbuffer = tflite.read_bytes()
    figures = costs.measure(model)
    accuracy = {"accuracy_keras": None, "accuracy_tflite": None, "test_images": 0}
    if source is not None:  # at the size and channels the weights were trained with
        test = data.pipeline(source, "test", batch_size=256, image_size=model.input_shape[1],
                             channels=model.input_shape[-1])
        log(f"[{label}] evaluating on {test.num_examples} test images in Keras and in LCE's interpreter")
        accuracy = keras_and_lce_accuracy(model, test, flatbuffer)
    latency = LocalTimer().measure(tflite, threads=1, runs=LATENCY_RUNS, warmup=5)
    return {
        "model": label,
        "keras_accuracy": accuracy["accuracy_keras"],
        "tflite_accuracy": accuracy["accuracy_tflite"],
        "test_images": accuracy["test_images"],
        "binary_macs": figures.binary_macs,
        "activations": figures.activations,
        "size_bytes": figures.size_bytes,
        "tflite_bytes": len(flatbuffer),
        "latency_ms": latency.median_ms,
        "arm_instructions": arm_cost.require_complete(arm_cost.estimate(flatbuffer, tflite), label),
    }


def transfer(out: Path, *, epochs: int, fine_tune_epochs: int, log=print) -> dict:
    """Fine-tune the DWR backbone (shipped Fashion-MNIST weights) on the digits."""
    from dwr_larq import zoo
    from dwr_larq.training.finetune import finetune

    label = zoo.get_card(MODELS[-1]).name  # a zoo name, or the name inside a card file
    run_dir = out / f"{label}-on-{TRANSFER_DATASET}"
    log(f"[{label}] fine-tuning its {TAG} backbone on {TRANSFER_DATASET} in {run_dir}")
    return finetune(
        MODELS[-1], weights=TAG, dataset=TRANSFER_DATASET, out=run_dir, epochs=epochs,
        fine_tune_epochs=fine_tune_epochs, batch_size=64, verbose=0,
    )


COLUMNS = (
    ("model", "model", "{}"),
    ("Keras acc", "keras_accuracy", _percent),
    ("TFLite acc", "tflite_accuracy", _percent),
    ("binary MACs", "binary_macs", _count),
    ("activations", "activations", _count),
    ("size", "size_bytes", lambda v: f"{v / 2**20:.2f} MiB"),
    ("x86 latency", "latency_ms", "{:.3f} ms"),
    ("ARM estimate", "arm_instructions", lambda v: f"{_count(v)} instr."),
)


def table(rows: list) -> str:
    """The side-by-side table, one row per model."""
    from dwr_larq.formatting import text_table

    cells = [[fmt(row[key]) if callable(fmt) else fmt.format(row[key]) for _, key, fmt in COLUMNS] for row in rows]
    return text_table([name for name, _, _ in COLUMNS], cells)


def fashion_mnist(log=print):
    """The Fashion-MNIST source, or None after saying how to get the data."""
    from dwr_larq.training import data

    try:
        return data.source(DATASET)
    except ValueError as error:
        log(f"note: skipping the accuracy columns: {error}")
        return None


@click.command("quickstart")
@click.option("--out", type=click.Path(file_okay=False), default="dwr-larq-quickstart", show_default=True,
              help="Where flatbuffers, the fine-tuning run and quickstart.json go (re-running reuses them).")
@click.option("--transfer-epochs", type=POSITIVE_INT, default=TRANSFER_EPOCHS, show_default=True,
              help="Epochs of the new head on the digits, backbone frozen.")
@click.option("--fine-tune-epochs", type=click.IntRange(min=0), default=TRANSFER_FINE_TUNE_EPOCHS, show_default=True,
              help="Epochs with the backbone unfrozen afterwards.")
def quickstart_command(out, transfer_epochs, fine_tune_epochs):
    """The whole path in minutes: shipped Fashion-MNIST weights of ResNet20 and its DWR
    reshapes, evaluated in Keras and LCE, their costs side by side, then transfer learning."""
    from dwr_larq.atomic import check_output_folder

    quiet_tensorflow()
    start = time.perf_counter()
    out = check_output_folder(out)
    out.mkdir(parents=True, exist_ok=True)
    source = fashion_mnist(log=click.echo)
    rows = [model_row(name, out, source, log=click.echo) for name in MODELS]
    tuned = transfer(out, epochs=transfer_epochs, fine_tune_epochs=fine_tune_epochs, log=click.echo)
    seconds = time.perf_counter() - start
    report = {"rows": rows, "transfer": tuned, "seconds": round(seconds, 1)}
    write_atomically(out / "quickstart.json", json.dumps(report, indent=2) + "\n")
    click.echo("")
    where = f"{rows[0]['test_images']} {DATASET} test images" if source is not None else f"no {DATASET} data"
    click.echo(f"Shipped {TAG} weights on {where}; latency: LCE interpreter on this host, 1 thread, median of {LATENCY_RUNS}; "
               "ARM estimate: instructions per inference of LCE 0.16's aarch64 kernels (Cortex-A72, 1 thread)")
    click.echo(table(rows))
    for row in rows:
        if row["keras_accuracy"] is not None:
            gap = abs(row["keras_accuracy"] - row["tflite_accuracy"]) * 100
            click.echo(f"{row['model']}: the LCE flatbuffer is {gap:.2f} points from Keras")
    click.echo(
        f"Transfer learning: {tuned['model']}'s {TAG} backbone with a new head on {TRANSFER_DATASET}: "
        f"{tuned['accuracy']:.2%} on {tuned['test_images']} held-out images after {tuned['epochs']} epochs"
    )
    click.echo(f"done in {seconds:.0f}s; flatbuffers, the fine-tuning run and quickstart.json in {out}")
