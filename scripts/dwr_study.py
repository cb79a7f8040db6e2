"""Original vs naive vs DWR backbones, trained with the same budget on the embedded digits.

For the CIFAR ResNet-18 and ResNet-20 backbones: the original, its naive reshaping
(depths / s, MAC-preserving widths) and the full DWR result (naive, pre-training,
DBSCAN width search, binary-MAC budget matching) are each trained from scratch with
the same schedule, then converted with LCE and timed. Writes a markdown and a JSON
table and a figure.

    python scripts/dwr_study.py --epochs 8 --out study/
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from dwr_larq.deploy import convert
from dwr_larq.deploy.timer import time_flatbuffer
from dwr_larq.training import data
from dwr_larq.models import costs
from dwr_larq import dwr
from dwr_larq import zoo
from dwr_larq.atomic import write_atomically

# Backbone -> (s, DBSCAN eps). The eps are where the search found redundant channels
# on this data without collapsing a stage (see the per-stage counts in the JSON).
BACKBONES = {"ResNet18CIFAR": (2, 0.1), "ResNet20": (3, 0.3)}


def train_and_test(spec, train, test, epochs, batch_size, seed):
    """Test accuracy after ``epochs`` of the shared schedule, and the trained model."""
    model, history = dwr.pretrain(spec, train, epochs=epochs, batch_size=batch_size, seed=seed)
    _, accuracy = model.evaluate(*test, batch_size=256, verbose=0)
    return model, float(accuracy), history


def lce_latency_ms(model, runs: int) -> float:
    """Median ms of one image on this host, timed as ``dwr-larq benchmark`` times (``dwr_larq.deploy.timer``)."""
    return time_flatbuffer(convert.to_flatbuffer(model), threads=1, runs=runs, warmup=2).median_ms


def study_backbone(name, args, train, test, calibration):
    original = zoo.get_card(name).spec
    s, eps = BACKBONES[name]
    result = dwr.reshape(
        original, train, calibration, s=s, pretrain_epochs=args.pretrain_epochs, eps=args.eps or eps,
        batch_size=args.batch_size, seed=args.seed,
    )
    variants = {"original": original, "naive": result.naive, "DWR": result.final}
    rows = []
    for variant, spec in variants.items():
        start = time.perf_counter()
        model, accuracy, history = train_and_test(spec, train, test, args.epochs, args.batch_size, args.seed)
        seconds = time.perf_counter() - start
        figures = costs.measure(model)
        rows.append(
            {
                "backbone": name,
                "variant": variant,
                "depths": list(spec.depths),
                "widths": list(spec.widths),
                "binary_macs": figures.binary_macs,
                "activations": figures.activations,
                "activations_out": figures.activations_out,
                "train_accuracy": history["accuracy"][-1],
                "test_accuracy": round(accuracy, 4),
                "train_seconds": round(seconds, 1),
                "lce_latency_ms": round(lce_latency_ms(model, args.latency_runs), 3),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows, result.provenance()


def markdown(rows, settings) -> str:
    lines = [
        f"Embedded digits (scikit-learn, 32x32 RGB, {settings['train_images']} train / {settings['test_images']} test), "
        f"{settings['epochs']} epochs of Adam for every variant, seed {settings['seed']}; LCE latency at 32x32, 1 thread, "
        f"median of {settings['latency_runs']} runs on this host.",
        "",
        "| backbone | variant | depths | widths | binary MACs | activations (in / out) | train acc. | test acc. | LCE latency |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['backbone']} | {r['variant']} | {r['depths']} | {r['widths']} | {r['binary_macs'] / 1e6:.1f}M "
            f"| {r['activations'] / 1e3:.1f}k / {r['activations_out'] / 1e3:.1f}k | {100 * r['train_accuracy']:.1f}% "
            f"| {100 * r['test_accuracy']:.1f}% "
            f"| {r['lce_latency_ms']:.2f} ms |"
        )
    return "\n".join(lines) + "\n"


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    for backbone in dict.fromkeys(r["backbone"] for r in rows):
        subset = [r for r in rows if r["backbone"] == backbone]
        for axis, key, label in ((axes[0], "activations", "activations entering binary convs"), (axes[1], "lce_latency_ms", "LCE latency (ms)")):
            axis.plot([r[key] for r in subset], [100 * r["test_accuracy"] for r in subset], "o-", label=backbone)
            for r in subset:
                axis.annotate(r["variant"], (r[key], 100 * r["test_accuracy"]), textcoords="offset points", xytext=(4, 4))
            axis.set_xlabel(label)
            axis.set_ylabel("test accuracy (%)")
    axes[0].legend()
    figure.suptitle("DWR study on embedded digits: original vs naive vs DWR")
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8, help="training epochs of every variant")
    parser.add_argument("--pretrain-epochs", type=int, default=3, help="DWR pre-training epochs before the width search")
    parser.add_argument("--eps", type=float, help="DBSCAN eps (cosine) for every backbone (default: per backbone)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--latency-runs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backbones", nargs="+", default=list(BACKBONES), choices=list(BACKBONES))
    parser.add_argument("--out", type=Path, default=Path("study"))
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.pretrain_epochs < 1:
        parser.error("--epochs and --pretrain-epochs must be >= 1")
    args.out.mkdir(parents=True, exist_ok=True)

    train, test = data.digits("train"), data.digits("test")
    calibration = test[0]
    rows, provenance = [], {}
    for name in args.backbones:
        backbone_rows, provenance[name] = study_backbone(name, args, train, test, calibration)
        rows += backbone_rows
    settings = {**vars(args), "out": str(args.out), "train_images": len(train[0]), "test_images": len(test[0])}
    write_atomically(args.out / "dwr_study.json", json.dumps({"settings": settings, "rows": rows, "dwr": provenance}, indent=2))
    write_atomically(args.out / "dwr_study.md", markdown(rows, settings))
    plot(rows, args.out / "dwr_study.png")
    print(markdown(rows, settings))


if __name__ == "__main__":
    main()
