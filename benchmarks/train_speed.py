"""Training throughput of zoo models side by side, in one process, on the real input pipeline.

    python benchmarks/train_speed.py ResNet20 ResNet20DWR --dataset fashion_mnist --steps 40

For each model and each setting (plain ``fit``; ``--jit`` adds ``jit_compile=True``;
``--steps-per-execution N`` adds that), it times ``--steps`` optimizer steps of the
project's training pipeline (augmentation included) after a warm-up epoch slice, and
prints images per second and each model's ratio to the first. Models alternate in
rounds so that a change in machine load hits them alike.
"""

from __future__ import annotations

import argparse
import json
import time

ROUNDS = 3


def measure(name, dataset, *, steps, batch_size, jit, steps_per_execution, data_only=False):
    import tensorflow as tf

    from dwr_larq import zoo
    from dwr_larq.training import data, recipes

    source = data.source(dataset)
    pipeline = data.pipeline(source, "train", batch_size=batch_size)
    batches = pipeline.dataset.take(steps).repeat()
    if data_only:  # the input pipeline alone: how fast batches arrive
        iterator = iter(batches)
        next(iterator)
        start = time.perf_counter()
        for _ in range(steps):
            next(iterator)
        return steps * batch_size / (time.perf_counter() - start)
    model = zoo.get_model(name, input_shape=(source.image_size, source.image_size, source.channels),
                          num_classes=source.num_classes)
    recipe = recipes.get_recipe("bireal")
    model.compile(recipe.optimizer(recipe.steps[0], 1000), recipe.loss(), jit_compile=jit,
                  steps_per_execution=steps_per_execution)
    model.fit(batches, steps_per_epoch=2 * steps_per_execution, epochs=1, verbose=0)  # trace and warm up
    start = time.perf_counter()
    model.fit(batches, steps_per_epoch=steps, epochs=1, verbose=0)
    return steps * batch_size / (time.perf_counter() - start)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--jit", action="store_true", help="also time jit_compile=True")
    parser.add_argument("--steps-per-execution", type=int, default=1, help="also time this steps_per_execution")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)

    settings = [("fit", False, 1)]
    if args.jit:
        settings.append(("jit_compile", True, 1))
    if args.steps_per_execution > 1:
        settings.append((f"steps_per_execution={args.steps_per_execution}", False, args.steps_per_execution))
    results = {"input pipeline only": {}}
    results["input pipeline only"]["-"] = [
        measure(None, args.dataset, steps=args.steps, batch_size=args.batch_size, jit=False, steps_per_execution=1,
                data_only=True)
    ]
    for label, jit, spe in settings:
        results[label] = {name: [] for name in args.models}
        for _ in range(ROUNDS):
            for name in args.models:
                results[label][name].append(
                    measure(name, args.dataset, steps=args.steps, batch_size=args.batch_size, jit=jit,
                            steps_per_execution=spe)
                )
    print(f"{args.dataset}, batch {args.batch_size}, {args.steps} steps, best of {ROUNDS} rounds (images/second)")
    for label, per_model in results.items():
        best = {name: max(values) for name, values in per_model.items()}
        first = next(iter(best.values()))
        cells = ", ".join(f"{name} {value:.0f} ({value / first:.2f}x)" for name, value in best.items())
        print(f"  {label}: {cells}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"settings": vars(args), "images_per_second": results}, handle, indent=2)


if __name__ == "__main__":
    main()
