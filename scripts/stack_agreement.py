"""Do the shipped weights predict the same under two software stacks (say TensorFlow 2.15
and 2.16)? Run ``predict`` once in each stack's environment, then ``compare``.

    python scripts/stack_agreement.py predict old.npz      # in the old stack's venv
    python scripts/stack_agreement.py predict new.npz      # in the new stack's venv
    python scripts/stack_agreement.py compare old.npz new.npz

``predict`` runs every model that ships ``fashion_mnist`` weights on the 10,000 test
images, in Keras and converted with LCE in its interpreter, and keeps the predicted
classes and the flatbuffer's sha256; ``compare`` counts the images whose class differs.
"""

from __future__ import annotations

import hashlib
import json
import sys

import numpy as np

TAG = "fashion_mnist"


def predict(out: str) -> None:
    from dwr_larq import zoo
    from dwr_larq.deploy import convert
    from dwr_larq.training import data

    arrays, hashes = {}, {}
    for name in zoo.list_models():
        card = zoo.get_card(name)
        if TAG not in card.weights:
            continue
        trained = card.weights[TAG].trained
        model = zoo.get_model(name, weights=TAG)
        test = data.pipeline(data.source(TAG), "test", batch_size=500, image_size=trained["input_size"],
                             channels=trained["channels"])
        flatbuffer = convert.to_flatbuffer(model)
        runner = convert.interpreter(flatbuffer, num_threads=1)  # threads spin-wait on a loaded host
        keras, lite = [], []
        for images, _ in test.dataset:
            keras.append(np.argmax(model(images, training=False), -1))
            lite.append(np.argmax(runner.predict(images.numpy().astype(np.float32)), -1))
        arrays[f"keras/{name}"], arrays[f"lite/{name}"] = np.concatenate(keras), np.concatenate(lite)
        hashes[name] = hashlib.sha256(flatbuffer).hexdigest()
        print(name, hashes[name][:12], flush=True)
    np.savez(out, hashes=json.dumps(hashes), **arrays)


def compare(first: str, second: str) -> None:
    a, b = np.load(first), np.load(second)
    hashes_a, hashes_b = json.loads(str(a["hashes"])), json.loads(str(b["hashes"]))
    for key in sorted(k for k in a.files if k != "hashes"):
        differ = int(np.sum(a[key] != b[key]))
        name = key.split("/")[1]
        same_bytes = " flatbuffers byte-identical" if key.startswith("lite") and hashes_a[name] == hashes_b[name] else ""
        print(f"{key}: {differ} of {len(a[key])} images predicted differently{same_bytes}")


if __name__ == "__main__":
    command, *paths = sys.argv[1:]
    {"predict": predict, "compare": compare}[command](*paths)
