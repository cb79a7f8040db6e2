"""Throwaway models whose memory really comes back.

Every larq quantizer is a ``tf.custom_gradient``. Built into a Keras graph, each call
registers its gradient function in TensorFlow's global gradient registry under a fresh
``CustomGradient-<n>`` name, and that function holds the graph alive: the model's
weights included. ``clear_session`` does not touch the registry, so a process that
builds many binary models (a budget search, a benchmark sweep, a test suite) keeps
every one of them: about 38 MB for four 512-channel binary convs, 4-15 GB over this
project's test suite. (TensorFlow issue #97697; tf-keras pull request #898 proposes
the same purge inside ``clear_session``.)

``throwaway_graphs()`` drops only the registrations made inside its ``with`` body, so
gradients of anything traced before it still resolve.
"""

from __future__ import annotations

import contextlib

import tensorflow as tf

CUSTOM_GRADIENT_PREFIX = "CustomGradient-"


def _gradient_registry() -> dict:
    """TensorFlow's name -> gradient function table, or an empty dict if a release
    stores it elsewhere (then nothing is purged: the old leak, never an error)."""
    from tensorflow.python.framework import ops

    return getattr(getattr(ops, "_gradient_registry", None), "_registry", {})


def custom_gradient_names() -> set:
    return {name for name in _gradient_registry() if name.startswith(CUSTOM_GRADIENT_PREFIX)}


@contextlib.contextmanager
def throwaway_graphs():
    """Run the body, then clear the Keras session and forget the custom gradients the
    body registered: models built inside must not be used for gradients afterwards."""
    before = custom_gradient_names()
    try:
        yield
    finally:
        tf.keras.backend.clear_session()
        registry = _gradient_registry()
        for name in custom_gradient_names() - before:
            registry.pop(name, None)
