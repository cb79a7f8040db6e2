"""Registering our Keras layers the moment TensorFlow is imported, without importing it ourselves.

``import dwr_larq`` must stay light (no TensorFlow), yet a user who then calls
``tf.keras.models.load_model`` expects our layers to be known, as with larq-zoo. So if
TensorFlow is already loaded we register now; otherwise a meta-path finder waits for
``tensorflow`` to finish importing and registers right after.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

LAYERS_MODULE = "dwr_larq.models.layers"


def _register() -> None:
    try:
        importlib.import_module(LAYERS_MODULE)
    except ImportError as error:  # larq missing or broken: TensorFlow itself must still import
        warnings.warn(f"dwr_larq could not register its Keras layers: {error}", stacklevel=2)


class _AfterTensorFlow(importlib.abc.MetaPathFinder):
    """Wraps the ``tensorflow`` loader so its module, once executed, pulls in our layers."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        exec_module = loader.exec_module

        def exec_then_register(module):
            exec_module(module)
            _register()

        loader.exec_module = exec_then_register
        return spec


def register_when_tensorflow_loads() -> None:
    if "tensorflow" in sys.modules:
        _register()
    elif not any(isinstance(finder, _AfterTensorFlow) for finder in sys.meta_path):
        sys.meta_path.insert(0, _AfterTensorFlow())
