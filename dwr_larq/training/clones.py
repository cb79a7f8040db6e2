"""Copies of a model with some layer settings changed: one mechanism for every variant
training needs (real-valued weights for ReActNet's step 1, batch norms synchronized
across replicas, a plain float32 copy to save and convert).

A copy is built from the layers' configs (``clone_model``), so it has the same
architecture and layer names, and takes its weights by position when asked.
"""

from __future__ import annotations

import contextlib
from typing import Callable

import tensorflow as tf


def rebuild(model: tf.keras.Model, edit: Callable[[tf.keras.layers.Layer, dict], dict], copy_weights: bool = True):
    """A fresh ``model`` whose layers are rebuilt from ``edit(layer, config)``, ``config``
    being the layer's own with what Keras 2 (tf-keras) leaves out of it (a batch norm's
    ``synchronized``) put back."""

    def clone(layer):
        config = layer.get_config()
        if isinstance(layer, tf.keras.layers.BatchNormalization):
            config["synchronized"] = bool(getattr(layer, "synchronized", False))
        return layer.__class__.from_config(edit(layer, config))

    copy = tf.keras.models.clone_model(model, clone_function=clone)
    if copy_weights:
        # A nested layer lists its trainable weights first, so freezing changes the order
        # get_weights gives (fine-tuning freezes the backbone or its batch norms), and the
        # copy takes the frozen flags of the configs: read and write both all trainable.
        with _all_trainable(model), _all_trainable(copy):
            copy.set_weights(model.get_weights())
    return copy


@contextlib.contextmanager
def _all_trainable(model: tf.keras.Model):
    """Every layer of ``model`` trainable inside the block, each one's flag as before after
    (set outermost first: setting a layer's flag sets its sublayers' too)."""
    flags = [(layer, layer.trainable) for layer in (model, *model.submodules) if isinstance(layer, tf.keras.layers.Layer)]
    model.trainable = True
    try:
        yield model
    finally:
        for layer, trainable in flags:
            layer.trainable = trainable


def _float32(value):
    """``value`` (a layer config or part of one) with every mixed dtype policy made float32:
    larq's quantizers are layers nested in the config and carry their own."""
    if isinstance(value, dict):
        if value.get("class_name") == "Policy":
            return "float32"
        return {key: "float32" if key == "dtype" and _is_policy(item) else _float32(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_float32(item) for item in value]
    return value


def _is_policy(value) -> bool:
    return (isinstance(value, dict) and value.get("class_name") == "Policy") or (
        isinstance(value, str) and value.startswith("mixed_")
    )


def synchronize_batch_norms(model: tf.keras.Model, synchronized: bool = True) -> tf.keras.Model:
    """``model`` with every batch norm computing its batch statistics over all replicas
    (``synchronized=True``), so a step on many devices normalises like one device with
    the whole global batch; ``False`` turns it off again."""

    def edit(layer, config):
        if isinstance(layer, tf.keras.layers.BatchNormalization):
            config["synchronized"] = synchronized
        return config

    return rebuild(model, edit)


def plain_copy(model: tf.keras.Model) -> tf.keras.Model:
    """A float32, unsynchronized copy with ``model``'s weights: what a run saves, evaluates
    and LCE converts, the same whatever strategy and precision trained it. Build it
    outside any strategy scope; under multi-worker training every worker must call it
    (reading replicated batch-norm statistics is a collective)."""

    def edit(layer, config):
        config = _float32(config)
        if isinstance(layer, tf.keras.layers.BatchNormalization):
            config["synchronized"] = False
        return config

    return rebuild(model, edit)
