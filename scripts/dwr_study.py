"""Depth versus width, binary versus full precision: a multi-seed DWR study of ResNet-20.

Every variant is trained from scratch with one recipe and epoch count, for each seed,
and tested on the whole test split:

- the depth/width ladder: ResNet-20 reshaped naively at s = 1 (the original), 2 and 3
  (depths / s, widths keeping the binary MACs), each as a binary network and as its
  full-precision twin (same layout, a ReLU and a real-valued conv where the binary
  network has a sign and a 1-bit conv: ``spec.precision = "float"``);
- DWR: the paper's ResNet-20 widths, and widths searched on this data (DBSCAN on the
  first seed's trained s = 3 network, calibration images from the training split,
  then matched to the original's binary MACs).

The paper predicts that the binary networks gain more from a larger s than the
full-precision ones. Each (variant, seed) is a run folder under ``--runs``, trained
by ``dwr_larq.training.train``: an interrupted study resumes with the same command,
mid-run from the last finished epoch, and never redoes a finished run. The tables
and figure in ``--results`` are rewritten after every finished run. ``--variants``
trains a subset, for example the ladder's ends on a longer schedule.

    python scripts/dwr_study.py --dataset fashion_mnist --epochs 3 --seeds 0 1 2 \\
        --runs runs/dwr_study --results docs/results/dwr_study
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dwr_larq import zoo
from dwr_larq.atomic import write_atomically
from dwr_larq.checks import positive_int
from dwr_larq.formatting import markdown_table
from dwr_larq.dwr.budget import naive
from dwr_larq.models.costs import measure_spec
from dwr_larq.reshaping import match_budget
from dwr_larq.models.spec import BackboneSpec
from dwr_larq.zoo.cards import ModelCard, SourceKind

ORIGINAL, PAPER_DWR = "ResNet20", "ResNet20DWR"
LADDER = (1, 2, 3)  # the depth divisors s of the ladder
# In training order: each rung's full-precision twin right after it; the search after its source rung.
VARIANTS = (*(f"s{s}{suffix}" for s in LADDER for suffix in ("", "-float")), "dwr-paper", "dwr-searched")
SEARCH_FROM = 3  # the ladder rung whose trained first-seed network the width search reads
DIVISOR = 2  # widths even, as the paper's ResNet-20 widths are
TOLERANCE = 0.05  # binary MACs of every variant within this of the original's
CALIBRATION_IMAGES = 400  # the authors' CIFAR count (dwr.search.SEARCH_DEFAULTS)


@dataclass(frozen=True)
class Variant:
    name: str
    spec: BackboneSpec
    s: float
    kind: str  # "ladder" or "dwr"

    @property
    def precision(self) -> str:
        return self.spec.precision


def ladder(original: BackboneSpec) -> list:
    """The s = 1, 2, 3 rungs, binary then full precision."""
    rungs = [(s, original if s == 1 else naive(original, s, DIVISOR)) for s in LADDER]
    binary = [Variant(f"s{s}", spec, s, "ladder") for s, spec in rungs]
    twins = [Variant(f"s{s}-float", spec.replace(precision="float"), s, "ladder") for s, spec in rungs]
    return binary + twins


def write_card(variant: Variant, folder: Path) -> Path:
    """The variant as a zoo card file, which ``train`` takes in place of a zoo name."""
    card = ModelCard(f"ResNet20-{variant.name}", zoo.get_card(ORIGINAL).dataset, f"DWR study variant {variant.name}", variant.spec,
                     {"kind": SourceKind.STUDY, "variant": variant.name, "s": variant.s}, {}, {})
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{variant.name}.json"
    text = json.dumps(card.to_dict(), indent=2) + "\n"
    if not path.exists() or path.read_text() != text:
        write_atomically(path, text)
    return path


def calibration_images(dataset: str, size: int, count: int) -> np.ndarray:
    """The first ``count`` training images, un-augmented (the authors used test images; we do not)."""
    from dwr_larq.training import data

    pipe = data.load(dataset, "train", batch_size=100, image_size=size, training=False)
    batches = [images.numpy() for images, _ in pipe.dataset.take(-(-count // 100))]
    return np.concatenate(batches)[:count]


def search(args, original: BackboneSpec, source: Variant, model_file: Path) -> dict:
    """Width search on the trained network of ``source``, once: the result is kept in
    ``search.json`` beside the runs and read back on resume."""
    path = args.runs / "search.json"
    if path.exists():
        return json.loads(path.read_text())
    import tensorflow as tf

    from dwr_larq.dwr.search import AUTO, SEARCH_DEFAULTS, width_search

    model = tf.keras.models.load_model(model_file)
    images = calibration_images(args.dataset, original.input_size, CALIBRATION_IMAGES)
    authors_eps = SEARCH_DEFAULTS["cifar"].eps
    searched, stages = width_search(model, source.spec, images, AUTO, min_samples=5)
    _, authors_stages = width_search(model, source.spec, images, authors_eps, min_samples=5)
    final = match_budget(searched, original, by="binary_macs", tolerance=TOLERANCE, divisor=DIVISOR)
    result = {
        "searched_on": f"{source.name}, seed {args.seeds[0]}, {args.epochs} epochs",
        "calibration_images": len(images),
        "calibration_split": "train",
        "min_samples": 5,
        "stages_auto": [_stage(stage) for stage in stages],
        "stages_authors_eps": [_stage(stage) for stage in authors_stages],
        "authors_eps": authors_eps,
        "searched_widths": list(searched.widths),
        "final_widths": list(final.widths),
        "final_depths": list(final.depths),
    }
    write_atomically(path, json.dumps(result, indent=2) + "\n")
    return result


def _stage(stage) -> dict:
    return {"stage": stage.stage, "channels": stage.channels, "clusters": stage.clusters, "noise": stage.noise,
            "width": stage.width, "eps": round(stage.eps, 5) if stage.eps is not None else None}


def train_variant(args, variant: Variant, seed: int) -> dict:
    from dwr_larq.training.train import train

    card = write_card(variant, args.runs / "cards")
    out = args.runs / f"{variant.name}-seed{seed}"
    start = time.perf_counter()
    summary = train(str(card), dataset=args.dataset, epochs=args.epochs, batch_size=args.batch_size, out=out,
                    recipe=args.recipe, seed=seed, verbose=2)
    return {"run": out.name, "accuracy": summary["accuracy"], "seconds_this_call": round(time.perf_counter() - start, 1),
            "model_file": str(out / summary.get("model_file", "model.keras"))}


@functools.lru_cache(maxsize=None)
def binary_macs(spec: BackboneSpec) -> int:
    """Binary MACs of ``spec``'s binary self (one model build per variant, not per run)."""
    return measure_spec(spec.replace(precision="binary")).binary_macs


def row(variant: Variant, seed: int, result: dict, reference_macs: int) -> dict:
    macs = binary_macs(variant.spec)
    return {"variant": variant.name, "kind": variant.kind, "precision": variant.precision, "s": variant.s,
            "depths": list(variant.spec.depths), "widths": list(variant.spec.widths), "seed": seed,
            "binary_macs": macs, "macs_vs_original": round(macs / reference_macs, 4),
            "test_accuracy": result["accuracy"], "run": result["run"]}


def aggregate(rows: list) -> list:
    """Mean and sample standard deviation of test accuracy per variant, in study order."""
    groups = {}
    for r in rows:
        groups.setdefault(r["variant"], []).append(r)
    table = []
    for name, group in groups.items():
        accuracies = [r["test_accuracy"] for r in group]
        first = group[0]
        table.append({key: first[key] for key in ("variant", "kind", "precision", "s", "depths", "widths", "binary_macs",
                                                   "macs_vs_original")}
                     | {"seeds": len(group), "mean": statistics.fmean(accuracies),
                        "std": statistics.stdev(accuracies) if len(group) > 1 else None})
    # Binary ladder, then DWR, then the full-precision ladder.
    return sorted(table, key=lambda r: (r["precision"] == "float", r["kind"] == "dwr", r["s"]))


def markdown(table: list, settings: dict, search_result: dict | None) -> str:
    lines = [
        f"{settings['dataset']}, {settings['train_images']} training and {settings['test_images']} test images at "
        f"{settings['input_size']}x{settings['input_size']}; recipe `{settings['recipe']}`, {settings['epochs']} epochs, "
        f"batch {settings['batch_size']}, for every variant; seeds {settings['seeds']}. Top-1 on the whole test split, "
        "mean ± sample standard deviation over the seeds finished so far.",
        "",
    ]
    rows = []
    for r in table:
        spread = f" ± {100 * r['std']:.2f}" if r["std"] is not None else ""
        rows.append([r["variant"], r["precision"], f"{r['s']}", f"{r['depths']}", f"{r['widths']}",
                     f"{r['binary_macs'] / 1e6:.1f}M ({r['macs_vs_original']:.3f})", f"{r['seeds']}",
                     f"{100 * r['mean']:.2f}{spread}%"])
    lines.append(markdown_table(["variant", "precision", "s", "depths", "widths", "binary MACs (vs original)", "seeds",
                                 "top-1"], rows))
    if search_result:
        lines += ["", f"Width search ({search_result['searched_on']}, {search_result['calibration_images']} training "
                      "images, DBSCAN cosine, min_samples 5):", ""]
        rows = [[f"{auto['stage']}", f"{auto['channels']}", f"{auto['eps']}", f"{auto['width']}", f"{authors['width']}"]
                for auto, authors in zip(search_result["stages_auto"], search_result["stages_authors_eps"])]
        lines.append(markdown_table(["stage", "channels", "eps='auto' chose", "width at auto",
                                     f"width at the authors' eps {search_result['authors_eps']}"], rows))
        lines += ["", f"Searched widths {search_result['searched_widths']}, matched to the original's binary MACs: "
                      f"{search_result['final_widths']}."]
    return "\n".join(lines) + "\n"


def plot(table: list, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 3, figsize=(14, 4))
    for axis, precision in zip(axes[:2], ("binary", "float")):
        rungs = [r for r in table if r["kind"] == "ladder" and r["precision"] == precision]
        axis.errorbar([r["s"] for r in rungs], [100 * r["mean"] for r in rungs],
                      yerr=[100 * (r["std"] or 0) for r in rungs], fmt="o-", capsize=4)
        axis.set_xticks(list(LADDER))
        axis.set_xlabel("s (depths / s, widths keep the binary MACs)")
        axis.set_ylabel("test top-1 (%)")
        axis.set_title(f"{precision} ResNet-20 ladder")
    binary = [r for r in table if r["precision"] == "binary"]
    axes[2].errorbar(range(len(binary)), [100 * r["mean"] for r in binary], yerr=[100 * (r["std"] or 0) for r in binary],
                     fmt="o", capsize=4)
    axes[2].set_xticks(range(len(binary)), [r["variant"] for r in binary])
    axes[2].set_ylabel("test top-1 (%)")
    axes[2].set_title("binary ResNet-20: ladder and DWR")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def publish(args, rows, search_result, counts) -> str:
    """Write the tables and figure of the runs so far; returns the markdown."""
    table = aggregate(rows)
    settings = {"dataset": args.dataset, "recipe": args.recipe, "epochs": args.epochs, "batch_size": args.batch_size,
                "seeds": args.seeds, "input_size": args.input_size, **counts,
                "command": "python scripts/dwr_study.py " + " ".join(args.argv)}
    args.results.mkdir(parents=True, exist_ok=True)
    write_atomically(args.results / "study.json", json.dumps(
        {"settings": settings, "table": table, "runs": rows, "search": search_result}, indent=2) + "\n")
    text = markdown(table, settings, search_result)
    write_atomically(args.results / "study.md", text)
    plot(table, args.results / "study.png")
    return text


def parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="fashion_mnist", help="a dataset name dwr-larq train takes")
    parser.add_argument("--epochs", type=int, default=3, help="epochs of every run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--recipe", default="bireal", help="the one recipe every run uses")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--input-size", type=int, default=28, help="image side (Fashion-MNIST's own is 28)")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS),
                        help="a subset to train (default: all), e.g. a longer schedule for the ladder's ends")
    parser.add_argument("--runs", type=Path, default=Path("runs/dwr_study"), help="run folders (resumable)")
    parser.add_argument("--results", type=Path, default=Path("docs/results/dwr_study"), help="tables and figure")
    args = parser.parse_args(argv)
    from dwr_larq.training.recipes import get_recipe

    for name in ("epochs", "batch_size", "input_size"):
        try:
            positive_int(getattr(args, name), f"--{name.replace('_', '-')}")
        except ValueError as error:
            parser.error(str(error))
    if len(set(args.seeds)) != len(args.seeds):
        parser.error(f"--seeds has repeats: {args.seeds}")
    if len(set(args.variants)) != len(args.variants):
        parser.error(f"--variants has repeats: {args.variants}")
    if "dwr-searched" in args.variants and f"s{SEARCH_FROM}" not in args.variants:
        parser.error(f"--variants: dwr-searched searches the trained s{SEARCH_FROM} network; add s{SEARCH_FROM}")
    try:
        get_recipe(args.recipe)
    except ValueError as error:
        parser.error(str(error))
    args.argv = list(argv) if argv is not None else sys.argv[1:]
    return args


def main(argv=None):
    args = parse(argv)
    original = zoo.get_card(ORIGINAL).spec.replace(input_size=args.input_size)
    paper = zoo.get_card(PAPER_DWR).spec.replace(input_size=args.input_size)
    rungs = ladder(original)
    by_name = {v.name: v for v in [*rungs, Variant("dwr-paper", paper, 3, "dwr")]}
    reference = measure_spec(original).binary_macs
    from dwr_larq.training import data

    src = data.source(args.dataset, image_size=args.input_size)
    counts = {"train_images": src.num_examples["train"], "test_images": src.num_examples["test"]}
    rows, search_result, text = [], None, ""
    for seed in args.seeds:
        for name in (name for name in VARIANTS if name in args.variants):
            if name != "dwr-searched":
                variant = by_name[name]
            else:
                source = by_name[f"s{SEARCH_FROM}"]
                model_file = args.runs / f"{source.name}-seed{args.seeds[0]}" / "model.keras"
                search_result = search(args, original, source, model_file)
                variant = Variant("dwr-searched", original.replace(depths=search_result["final_depths"],
                                                                   widths=search_result["final_widths"]), 3, "dwr")
            same = next((v for v in rungs if v.spec == variant.spec), None)
            # A search that keeps every channel gives the naive network again: its runs, not copies of them.
            result = train_variant(args, same or variant, seed)
            rows.append(row(variant, seed, result, reference))
            print(json.dumps(rows[-1]), flush=True)
            text = publish(args, rows, search_result, counts)
    print(text)


if __name__ == "__main__":
    main()
