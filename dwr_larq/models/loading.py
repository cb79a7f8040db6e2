"""Loading whole Keras model files that may come from anywhere without running code from them.

A ``.keras`` or ``.h5`` model can hold a ``Lambda`` layer (Python bytecode, run while the model
is rebuilt) or name classes and functions of any importable module; a SavedModel folder revives
TensorFlow graphs and objects that nothing checks beforehand. In safe mode (the default) the
architecture is read as JSON first and a file is refused, naming the layer, when it holds a
``Lambda`` or an object that is not Keras', TensorFlow's, Larq's or ours; a SavedModel is refused
outright. Keras' own ``safe_mode`` is passed on as a second line. The opt-in for a trusted file is
``safe_mode=False`` here, or ``--unsafe`` on the command line, which runs the command inside
``trusting_files()``. Loading weights into a built model (``zoo.get_model(weights=PATH)``,
``finetune --weights``) reads arrays only and needs none of this.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
import zipfile
from pathlib import Path

OPT_IN = "if you trust the file, pass --unsafe on the command line or safe_mode=False in Python"
# Packages whose classes and functions a model file may name in safe mode.
TRUSTED_PACKAGES = frozenset({"keras", "tf_keras", "tensorflow", "larq", "dwr_larq"})

_SAFE_MODE = contextvars.ContextVar("dwr_larq_safe_mode", default=True)


class UnsafeModelError(ValueError):
    """A model file would run code that is not Keras', Larq's or dwr-larq's when loaded."""


@contextlib.contextmanager
def trusting_files():
    """Load model files without safe mode inside the ``with`` body (the CLI's ``--unsafe``)."""
    token = _SAFE_MODE.set(False)
    try:
        yield
    finally:
        _SAFE_MODE.reset(token)


def is_saved_model(path) -> bool:
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, "saved_model.pb"))


def architecture(path) -> dict | None:
    """The model config stored in a ``.keras`` or HDF5 file, read as JSON (nothing is built);
    None when the file holds none (weights only, or not a model file: Keras then says what it is)."""
    path = os.fspath(path)
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            return json.loads(archive.read("config.json")) if "config.json" in archive.namelist() else None
    import h5py

    if os.path.isfile(path) and h5py.is_hdf5(path):
        with h5py.File(path, "r") as handle:
            config = handle.attrs.get("model_config")
        if config is None:
            return None
        return json.loads(config.decode() if isinstance(config, bytes) else config)
    return None


def _package_of(entry: dict) -> str | None:
    """The top-level package an object in a config comes from, as far as the config or the
    registry of custom objects (what Keras would look it up in) tells."""
    import tensorflow as tf

    registered = tf.keras.utils.get_custom_objects()
    for key in (entry.get("registered_name"), entry.get("class_name")):
        if isinstance(key, str) and key in registered:
            return getattr(registered[key], "__module__", "").split(".")[0]
    module = entry.get("module")
    if isinstance(module, str) and module:
        return module.split(".")[0]
    name = entry.get("registered_name") or entry.get("class_name")
    return name.split(">")[0] if isinstance(name, str) and ">" in name else None


def untrusted_objects(config, layer: str | None = None) -> list:
    """``(layer name, what)`` for every object in ``config`` that safe mode refuses."""
    found = []
    if isinstance(config, dict):
        if isinstance(config.get("class_name"), str):
            inner = config.get("config")
            layer = (inner.get("name") if isinstance(inner, dict) else None) or config.get("name") or layer
            if config["class_name"] == "Lambda":
                found.append((layer, "a Lambda layer (Python code stored in the file)"))
            else:
                package = _package_of(config)
                if package is not None and package not in TRUSTED_PACKAGES:
                    name = config.get("registered_name") or config["class_name"]
                    found.append((layer, f"{name!r} from {package!r}, not Keras', Larq's or dwr-larq's"))
        for value in config.values():
            found += untrusted_objects(value, layer)
    elif isinstance(config, list):
        for value in config:
            found += untrusted_objects(value, layer)
    return found


def check_safe(path) -> None:
    """Raise ``UnsafeModelError`` naming the first layer that makes loading ``path`` run foreign code."""
    if is_saved_model(path):
        raise UnsafeModelError(
            f"{str(path)!r} is a TensorFlow SavedModel, whose loading revives graphs and objects that safe mode "
            f"cannot check; save it as a .keras file, or {OPT_IN}"
        )
    found = untrusted_objects(architecture(path))
    if found:
        layer, what = found[0]
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise UnsafeModelError(
            f"refusing to load {str(path)!r}: layer {layer!r} is {what}{more}, and loading it could run code; {OPT_IN}"
        )


def load_model(path, *, safe_mode: bool | None = None):
    """The Keras model in ``path`` (``.keras``, ``.h5`` or SavedModel), uncompiled; in safe mode
    (``None``: the default, or what ``trusting_files`` says) refusing files that would run code."""
    import tensorflow as tf

    import dwr_larq  # noqa: F401  (registers our layers)

    path = os.fspath(Path(path))
    safe = _SAFE_MODE.get() if safe_mode is None else safe_mode
    if safe:
        check_safe(path)
    return tf.keras.models.load_model(path, compile=False, safe_mode=safe)
