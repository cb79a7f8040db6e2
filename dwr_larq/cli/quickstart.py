"""``dwr-larq quickstart``: the whole user path in a few minutes, on real data.

1. Load every zoo model that ships Fashion-MNIST weights (``shipped_models``: ResNet20
   and its DWR reshapes, ``zoo.X(weights="fashion_mnist")``: no download).
2. Evaluate them on all 10,000 Fashion-MNIST test images, prepared by the weights' own
   ``preprocess``, in Keras and, converted with LCE, in LCE's interpreter (one
   single-threaded interpreter per core, ``deploy.accuracy``).
3. Print their costs side by side: binary MACs, activations, size, latency on this host
   (one thread) and the ARM estimate (``dwr_larq.deploy.arm_cost``: instructions per
   inference of LCE's aarch64 kernels, estimated from the flatbuffer's ops).
4. Transfer learning, side by side: ``FINE_TUNED``'s shipped backbone with a new head,
   fine-tuned on a few labelled digits (scikit-learn's, bundled), and the same model
   trained from scratch on the same images for as many epochs.

When Fashion-MNIST is absent and cannot be downloaded, it says how to get it and runs
the steps that need no Fashion-MNIST (costs, latency, transfer learning). Results go
to ``--out``; a second call reuses the two training runs and the flatbuffers.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from dwr_larq.atomic import write_atomically
from dwr_larq.cli.common import POSITIVE_INT, quiet_tensorflow

TAG = DATASET = "fashion_mnist"
# The model whose Fashion-MNIST backbone the transfer step fine-tunes: the LCE-tuned DWR reshape.
FINE_TUNED = "ResNet20DWRLCE"
# Five labelled images of each digit: with so few, what the backbone learnt on Fashion-MNIST
# shows (with all 1,437 training digits, the model from scratch catches up within 5 epochs).
TRANSFER_DATASET = "digits:5-per-class"
TRANSFER_EPOCHS = 10  # the new head, backbone frozen
TRANSFER_FINE_TUNE_EPOCHS = 10  # then the backbone too, batch norms kept
TRANSFER_BATCH = 32
HEAD_LEARNING_RATE = 1e-2  # a new head learns fast on frozen features; the backbone at a tenth of it
SCRATCH_RECIPE = "bireal"  # one step, binary weights from the start: the project's simplest recipe
LATENCY_RUNS = 50


def shipped_models() -> list:
    """The zoo models whose ``fashion_mnist`` weights ship in the package, in the zoo's
    order: card files are numbered as models were added, so ResNet20 comes first and its
    reshapes follow. A card that ships such weights joins the quickstart by itself."""
    from dwr_larq import zoo

    models = [name.rsplit(".", 1)[0] for name in zoo.list_pretrained(f"*.{TAG}")]
    return [name for name in models if zoo.get_card(name).weights[TAG].top.shipped]


def _count(value) -> str:
    from dwr_larq.formatting import format_count

    return format_count(value)


def _percent(value) -> str:
    return "n/a" if value is None else f"{value:.2%}"


def model_row(name: str, out: Path, test, log=print) -> dict:
    """Load one zoo model with its shipped weights, convert it, and measure it; ``test`` is
    Fashion-MNIST's raw ``(images, labels)``, or None when the data is not available."""
    from dwr_larq import zoo
    from dwr_larq.deploy import arm_cost, convert
    from dwr_larq.deploy.accuracy import keras_and_lce_accuracy
    from dwr_larq.deploy.timer import LocalTimer
    from dwr_larq.models import costs

    model = zoo.get_model(name, weights=TAG)
    label = model.name
    tflite = out / f"{label}.tflite"
    if not tflite.is_file():
        log(f"[{label}] converting with LCE to {tflite}")
        convert.convert(model, tflite)
    flatbuffer = tflite.read_bytes()
    figures = costs.measure(model)
    accuracy = {"accuracy_keras": None, "accuracy_tflite": None, "test_images": 0}
    if test is not None:
        images, labels = test
        inputs = zoo.pretrained(name, TAG).preprocess(images)  # as the weights were evaluated
        log(f"[{label}] evaluating on {len(labels)} test images in Keras and in LCE's interpreter")
        accuracy = keras_and_lce_accuracy(model, (inputs, labels), flatbuffer)
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
    """``FINE_TUNED`` on ``TRANSFER_DATASET`` twice, for the same epochs: from its shipped
    Fashion-MNIST backbone with a new head (``finetune``), and from scratch (``train``)."""
    from dwr_larq import zoo
    from dwr_larq.training.finetune import finetune
    from dwr_larq.training.train import train

    card = zoo.get_card(FINE_TUNED)
    entry = card.weights[TAG]
    folder = TRANSFER_DATASET.replace(":", "-")
    pretrained_run, scratch_run = out / f"{card.name}-{TAG}-on-{folder}", out / f"{card.name}-scratch-on-{folder}"
    log(f"[{card.name}] fine-tuning its {TAG} backbone on {TRANSFER_DATASET} in {pretrained_run}")
    pretrained = finetune(
        FINE_TUNED, weights=TAG, dataset=TRANSFER_DATASET, out=pretrained_run, epochs=epochs,
        fine_tune_epochs=fine_tune_epochs, batch_size=TRANSFER_BATCH, learning_rate=HEAD_LEARNING_RATE, verbose=0,
    )
    log(f"[{card.name}] training it from scratch on {TRANSFER_DATASET} in {scratch_run}")
    scratch = train(
        FINE_TUNED, dataset=TRANSFER_DATASET, epochs=epochs + fine_tune_epochs, batch_size=TRANSFER_BATCH,
        recipe=SCRATCH_RECIPE, input_size=entry.input_size, channels=entry.channels, out=scratch_run, verbose=0,
    )
    return {"dataset": TRANSFER_DATASET, "pretrained": pretrained, "scratch": scratch}


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


def transfer_table(result: dict) -> str:
    """The two transfer runs side by side: where each started, its accuracy, its epochs."""
    from dwr_larq.formatting import text_table

    starts = ((f"{TAG} backbone, new head", result["pretrained"]), (f"scratch ({SCRATCH_RECIPE} recipe)", result["scratch"]))
    return text_table(["start", "accuracy", "epochs"],
                      [[start, _percent(run["accuracy"]), str(run["epochs"])] for start, run in starts])


def fashion_mnist_test(log=print):
    """Fashion-MNIST's raw test ``(images, labels)``, or None after saying how to get them."""
    from dwr_larq.training import keras_datasets

    try:
        folder = keras_datasets.locate(DATASET)
    except ValueError as error:
        log(f"note: skipping the accuracy columns: {error}")
        return None
    return keras_datasets.read_split(DATASET, "test", folder)


@click.command("quickstart")
@click.option("--out", type=click.Path(file_okay=False), default="dwr-larq-quickstart", show_default=True,
              help="Where flatbuffers, the two transfer runs and quickstart.json go (re-running reuses them).")
@click.option("--transfer-epochs", type=POSITIVE_INT, default=TRANSFER_EPOCHS, show_default=True,
              help="Epochs of the new head on the digits, backbone frozen.")
@click.option("--fine-tune-epochs", type=click.IntRange(min=0), default=TRANSFER_FINE_TUNE_EPOCHS, show_default=True,
              help="Epochs with the backbone unfrozen afterwards (the model from scratch trains for both).")
def quickstart_command(out, transfer_epochs, fine_tune_epochs):
    """The whole path in minutes: the zoo's shipped Fashion-MNIST weights (ResNet20 and its DWR
    reshapes) evaluated in Keras and LCE, their costs side by side, then transfer learning
    against the same model trained from scratch."""
    from dwr_larq.atomic import check_output_folder

    quiet_tensorflow()
    start = time.perf_counter()
    out = check_output_folder(out)
    out.mkdir(parents=True, exist_ok=True)
    test = fashion_mnist_test(log=click.echo)
    rows = [model_row(name, out, test, log=click.echo) for name in shipped_models()]
    tuned = transfer(out, epochs=transfer_epochs, fine_tune_epochs=fine_tune_epochs, log=click.echo)
    seconds = time.perf_counter() - start
    report = {"rows": rows, "transfer": tuned, "seconds": round(seconds, 1)}
    write_atomically(out / "quickstart.json", json.dumps(report, indent=2) + "\n")
    click.echo("")
    where = f"{rows[0]['test_images']} {DATASET} test images" if test is not None else f"no {DATASET} data"
    click.echo(f"Shipped {TAG} weights on {where}; latency: LCE interpreter on this host, 1 thread, median of {LATENCY_RUNS}; "
               "ARM estimate: instructions per inference of LCE 0.16's aarch64 kernels (Cortex-A72, 1 thread)")
    click.echo(table(rows))
    for row in rows:
        if row["keras_accuracy"] is not None:
            gap = abs(row["keras_accuracy"] - row["tflite_accuracy"]) * 100
            click.echo(f"{row['model']}: the LCE flatbuffer is {gap:.2f} points from Keras")
    pretrained = tuned["pretrained"]
    click.echo("")
    click.echo(f"Transfer learning: {pretrained['model']} on {TRANSFER_DATASET} ({pretrained['train_images']} labelled "
               f"images), accuracy on {pretrained['test_images']} held-out digits")
    click.echo(transfer_table(tuned))
    click.echo(f"done in {seconds:.0f}s; flatbuffers, the transfer runs and quickstart.json in {out}")
