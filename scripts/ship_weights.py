"""Ship a finished training run's weights inside the package, beside the zoo cards.

    python scripts/ship_weights.py RUN_DIR --name ResNet20DWR --tag fashion_mnist \
        --command "dwr-larq train ResNet20DWR --dataset fashion_mnist ..."

For weights small enough to ship (a few MB): ``dwr-larq export-weights`` writes the files
and the card entry; this moves the files to ``zoo/weights/``, points the entry at them,
re-measures the top-1 accuracy of the shipped weights on the dataset's whole test split,
in Keras and converted in LCE's interpreter, records both and the training command in
the entry's ``trained`` block, and writes the zoo card in place.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

ZOO = Path(__file__).resolve().parents[1] / "zoo"


def card_file(name: str) -> Path:
    for path in sorted(ZOO.glob("*.json")):
        if json.loads(path.read_text())["name"] == name:
            return path
    raise SystemExit(f"no card named {name!r} in {ZOO}")


def measure(card_path: Path, tag: str, dataset: str) -> dict:
    """Top-1 of the shipped weights, as a user gets them, in Keras and in LCE."""
    import tensorflow as tf

    from dwr_larq import zoo
    from dwr_larq.deploy.accuracy import keras_and_lce_accuracy
    from dwr_larq.training import data

    tf.keras.backend.clear_session()
    model = zoo.get_model(str(card_path), weights=tag)  # the card as now written, not as imported
    # The images take the model's input size and channels, as in training.
    test = data.pipeline(data.source(dataset), "test", batch_size=500, image_size=model.input_shape[1],
                         channels=model.input_shape[-1])
    return keras_and_lce_accuracy(model, test)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--name", required=True)
    parser.add_argument("--tag", required=True)
    parser.add_argument("--command", required=True, help="the exact training command, recorded on the card")
    args = parser.parse_args(argv)

    from dwr_larq.atomic import write_atomically
    from dwr_larq.training.publish import export_weights

    path = card_file(args.name)
    with tempfile.TemporaryDirectory() as temp:
        export_weights(args.run_dir, name=args.name, tag=args.tag, out=temp)
        entry = json.loads((Path(temp) / f"{args.name}.{args.tag}.entry.json").read_text())[args.tag]
        (ZOO / "weights").mkdir(exist_ok=True)
        for variant in ("top", "no_top"):
            file = entry[variant]["file"]
            write_atomically(ZOO / "weights" / file, (Path(temp) / file).read_bytes())
            entry[variant]["file"] = f"weights/{file}"
    card = json.loads(path.read_text())
    card["weights"] = {**card.get("weights", {}), args.tag: entry}
    write_atomically(path, json.dumps(card, indent=2) + "\n")

    figures = measure(path, args.tag, entry["trained"]["dataset"])
    entry["trained"].update(figures, command=args.command)
    card["weights"][args.tag] = entry
    write_atomically(path, json.dumps(card, indent=2) + "\n")
    print(json.dumps({args.name: entry["trained"]}, indent=2))


if __name__ == "__main__":
    main()
