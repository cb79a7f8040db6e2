import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import dwr_larq  # noqa: E402,F401  (before TensorFlow: it asks for the tf-keras that larq needs)
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from dwr_larq.models.session import throwaway_graphs  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_keras_session():
    """Each test starts with clean Keras layer-name counters and gives back the memory of
    the models it built (``throwaway_graphs``: without it a worker grew to 15 GB)."""
    tf.keras.backend.clear_session()
    with throwaway_graphs():
        yield


@pytest.fixture(autouse=True)
def _private_cache_home(tmp_path_factory, monkeypatch):
    """No test reads or writes the user's cache: ``$DWR_LARQ_HOME`` is a fresh folder per test."""
    monkeypatch.setenv("DWR_LARQ_HOME", str(tmp_path_factory.mktemp("dwr_larq_home")))


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def outputs(model, images) -> np.ndarray:
    """The model's outputs for one batch, in a single eager call: ``predict`` first traces a
    tf.function of the whole graph, 10-25x slower than the call itself for a one-off batch
    of a freshly built zoo model (ReActNetA: 10.7 s against 0.4 s)."""
    return np.asarray(model(np.asarray(images, np.float32), training=False))


def randomize_batch_norms(model, rng):
    """Give every BN non-trivial statistics so conversion checks are not vacuous."""
    for layer in model.submodules:
        if isinstance(layer, tf.keras.layers.BatchNormalization):
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights(
                [
                    rng.uniform(0.5, 2.0, gamma.shape),
                    rng.normal(0.0, 0.5, beta.shape),
                    rng.normal(0.0, 0.5, mean.shape),
                    rng.uniform(0.5, 2.0, variance.shape),
                ]
            )


def tiny_card(name="Tiny", description="a tiny backbone for tests", **spec_changes):
    """A card dict for a tiny backbone that trains and converts in seconds."""
    spec = {
        "block": "basic",
        "depths": [1, 1],
        "widths": [8, 16],
        "strides": [1, 2],
        "stem": {"width": 8},
        "head": {"num_classes": 10},
        "input_size": 16,
    }
    spec.update(spec_changes)
    return {"name": name, "dataset": "cifar10", "description": description, "spec": spec}


@pytest.fixture
def card(tmp_path):
    """The tiny card written to a file, as a user passes a card to the CLI or ``train``."""
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(tiny_card()))
    return str(path)


@pytest.fixture(scope="session")
def converted(tmp_path_factory):
    """Model name -> its flatbuffer at its native input size, converted on first use by
    whichever xdist worker asks first and shared through files with the other: the
    conversion and ARM-estimate tests (in different files, so maybe on different workers)
    pay for one conversion per model. The other worker waits on the model's lock."""
    from dwr_larq.atomic import write_atomically
    from dwr_larq.deploy import benchmark
    from dwr_larq.deploy.convert import to_flatbuffer
    from dwr_larq.download import locked

    base = tmp_path_factory.getbasetemp()
    folder = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "converted"
    folder.mkdir(exist_ok=True)
    cache = {}

    def get(name):
        if name not in cache:
            path = folder / f"{name}.tflite"
            with locked(path, timeout=600):
                if not path.is_file():
                    source = benchmark.resolve(name)
                    write_atomically(path, to_flatbuffer(benchmark.build_keras(source, benchmark.default_input_size(source))))
            cache[name] = path.read_bytes()
        return cache[name]

    return get

