"""The model zoo: one keras.applications-style function per card in the top-level ``zoo/``.

    >>> from dwr_larq import zoo
    >>> model = zoo.ResNet18DWR(weights=None, input_shape=(160, 160, 3))
    >>> zoo.list_models("*DWR")

Reading cards and listing models needs no TensorFlow; building a model imports it.
"""

from dwr_larq.zoo.registry import __all__, build_from_card, get_card, get_model, list_models  # noqa: F401
from dwr_larq.zoo.registry import FUNCTIONS as _FUNCTIONS

globals().update(_FUNCTIONS)
