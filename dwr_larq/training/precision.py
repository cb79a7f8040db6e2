"""Mixed precision for binary networks: which Keras policy, and only policies that keep
float32 variables.

Larq trains binary layers from real-valued latent weights that Adam nudges by about the
learning rate each step; in 16-bit variables those updates round away (bfloat16 keeps 8
bits of mantissa), and LCE converts float32 models only. So only Keras' two *mixed*
policies are accepted: computations in 16 bits, variables in float32. Larq's quantizers
are Keras layers nested in the quantized layers and follow their compute dtype: they
see and produce 16-bit tensors of +-1. ``mixed_float16`` needs loss scaling, which Keras'
``compile`` adds (``LossScaleOptimizer``) and the distiller's ``train_step`` uses through
``optimizer.minimize``; ``mixed_bfloat16`` has float32's range and needs none.
"""

from __future__ import annotations

import contextlib

MIXED_POLICIES = ("mixed_float16", "mixed_bfloat16")
AUTO = "auto"


def policy_name(mixed_precision, device: str) -> str | None:
    """The Keras policy for ``mixed_precision`` (None/False: full float32; True or ``auto``:
    ``mixed_float16`` on GPU, ``mixed_bfloat16`` on TPU and CPU; or a policy name)."""
    if mixed_precision in (None, False):
        return None
    if mixed_precision is True or mixed_precision == AUTO:
        return "mixed_float16" if device == "GPU" else "mixed_bfloat16"
    if mixed_precision not in MIXED_POLICIES:
        raise ValueError(
            f"mixed precision policy {mixed_precision!r} cannot train binary layers: larq's latent weights must stay "
            f"float32 (and LCE converts float32 models only); use {AUTO}, {' or '.join(MIXED_POLICIES)}"
        )
    return mixed_precision


@contextlib.contextmanager
def global_policy(name: str | None):
    """Keras' global dtype policy set to ``name`` (if any) inside the block, restored after."""
    import tensorflow as tf

    previous = tf.keras.mixed_precision.global_policy()
    if name is not None:
        tf.keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        tf.keras.mixed_precision.set_global_policy(previous)
