"""dwr-larq: fast and accurate binary neural networks built with Depth-Width Reshaping.

The package is grouped by concern, one sub-package each:

- ``models``: specs (TF-free), layers, blocks, the builder, cost figures, preprocessing;
- ``zoo``: cards, the keras.applications-style registry, weights and their cache;
- ``dwr``: the method (TF-free budget arithmetic, width search, the full reshape);
- ``training``: data, recipes, the training loop, run folders, train, finetune, evaluate, publish;
- ``deploy``: LCE conversion, flatbuffer checks, timers, benchmarks and reports;
- ``cli``: the ``dwr-larq`` command line.

Importing ``dwr_larq`` does not import TensorFlow: the names below load on first use.
It sets ``TF_USE_LEGACY_KERAS=1`` (unless set) so that TensorFlow, once loaded, gives
larq the tf-keras it needs (``legacy_keras``).
Our Keras layers register themselves as soon as TensorFlow is imported by anyone, so
``tf.keras.models.load_model`` finds them without ``custom_objects``.
"""

import importlib
import os

# TensorFlow's C++ start-up chatter (CUDA probing on CPU-only machines) buries our
# output; a user who wants it sets TF_CPP_MIN_LOG_LEVEL themselves.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from dwr_larq import _registration, legacy_keras  # noqa: E402

# larq needs tf.keras to be tf-keras, which TensorFlow 2.16 picks only if asked before it loads.
legacy_keras.choose_legacy_keras()
_registration.register_when_tensorflow_loads()

__version__ = "0.1.0"

_LAZY = {
    "BackboneSpec": "dwr_larq.models.spec",
    "HeadSpec": "dwr_larq.models.spec",
    "StemSpec": "dwr_larq.models.spec",
    "build": "dwr_larq.models.builder",
    "decode_predictions": "dwr_larq.models.preprocessing",
    "preprocess_input": "dwr_larq.models.preprocessing",
}
__all__ = [*_LAZY, "__version__"]


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'dwr_larq' has no attribute {name!r}")


def __dir__():
    return sorted({*globals(), *_LAZY})
