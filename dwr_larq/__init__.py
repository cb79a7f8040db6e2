"""dwr-larq: fast and accurate binary neural networks built with Depth-Width Reshaping."""

import os

# TensorFlow's C++ start-up chatter (CUDA probing on CPU-only machines) buries our
# output; a user who wants it sets TF_CPP_MIN_LOG_LEVEL themselves.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from dwr_larq import layers  # noqa: E402,F401  (registers the custom layers with Keras)
from dwr_larq.builder import build  # noqa: E402
from dwr_larq.imagenet import decode_predictions, preprocess_input  # noqa: E402
from dwr_larq.spec import BackboneSpec, HeadSpec, StemSpec  # noqa: E402

__version__ = "0.1.0"
__all__ = ["BackboneSpec", "HeadSpec", "StemSpec", "build", "decode_predictions", "preprocess_input", "__version__"]
