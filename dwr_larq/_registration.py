"""Registering our Keras layers as soon as TensorFlow and larq are loaded, without loading them.

``import dwr_larq`` must stay light (no TensorFlow), yet a user who then calls
``tf.keras.models.load_model`` expects our layers to be known, as with larq-zoo. So if
TensorFlow is already loaded we register now; otherwise a meta-path finder wraps the
loaders of ``tensorflow`` and ``larq`` and registers once both have finished importing
(larq imports TensorFlow half-way through its own import, so TensorFlow finishing first
is not enough).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

LAYERS_MODULE = "dwr_larq.models.layers"
WATCHED = ("tensorflow", "larq")


def _initializing(name: str) -> bool:
    module = sys.modules.get(name)
    return module is not None and getattr(getattr(module, "__spec__", None), "_initializing", False)


def _register() -> None:
    from dwr_larq.legacy_keras import LegacyKerasRequired

    try:
        importlib.import_module(LAYERS_MODULE)
    except LegacyKerasRequired:
        pass  # Keras 3 is loaded: our first call that needs Keras says so and how to fix it
    except ImportError as error:  # larq missing or broken: TensorFlow itself must still import
        warnings.warn(f"dwr_larq could not register its Keras layers: {error}", stacklevel=2)


class _AfterImports(importlib.abc.MetaPathFinder):
    """Wraps the loaders of the watched packages so that, once the last of them is done
    importing, our layers are imported (which registers them with Keras)."""

    def find_spec(self, fullname, path, target=None):
        if fullname not in WATCHED:
            return None
        index = sys.meta_path.index(self)
        sys.meta_path.remove(self)  # find the real spec without finding ourselves again
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            sys.meta_path.insert(index, self)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_then_register(module):
            exec_module(module)
            # The module just run still counts as initializing until this returns.
            others = [name for name in WATCHED if name != fullname]
            if "tensorflow" in sys.modules and not any(_initializing(name) for name in others):
                _stop_watching()
                _register()

        spec.loader.exec_module = exec_then_register
        return spec


def _stop_watching() -> None:
    sys.meta_path[:] = [finder for finder in sys.meta_path if not isinstance(finder, _AfterImports)]


def register_when_tensorflow_loads() -> None:
    if "tensorflow" in sys.modules and not any(_initializing(name) for name in WATCHED):
        _register()
    elif not any(isinstance(finder, _AfterImports) for finder in sys.meta_path):
        sys.meta_path.insert(0, _AfterImports())
