"""The model zoo: one keras.applications-style function per card in the top-level ``zoo/``.

    >>> from dwr_larq import zoo
    >>> model = zoo.ResNet18DWR(weights=None, input_shape=(160, 160, 3))
    >>> zoo.list_models("*DWR")
    >>> zoo.pretrained("ResNet20", "fashion_mnist").categories

Reading cards, listing models and weights needs no TensorFlow; building a model imports it.
"""

from dwr_larq.zoo.pretrained import Pretrained, list_pretrained, pretrained  # noqa: F401
from dwr_larq.zoo.registry import __all__ as _REGISTRY_NAMES
from dwr_larq.zoo.registry import build_from_card, get_card, get_model, list_models  # noqa: F401
from dwr_larq.zoo.registry import FUNCTIONS as _FUNCTIONS

__all__ = [*_REGISTRY_NAMES, "Pretrained", "list_pretrained", "pretrained"]
globals().update(_FUNCTIONS)
