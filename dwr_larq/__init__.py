"""dwr-larq: fast and accurate binary neural networks built with Depth-Width Reshaping."""

from dwr_larq import layers  # noqa: F401  (registers the custom layers with Keras)
from dwr_larq.builder import build
from dwr_larq.spec import BackboneSpec, HeadSpec, StemSpec

__version__ = "0.1.0"
__all__ = ["BackboneSpec", "HeadSpec", "StemSpec", "build", "__version__"]
