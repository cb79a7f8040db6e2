"""Legacy Keras (tf-keras) behind ``tf.keras``, which larq needs: larq does not support Keras 3.

TensorFlow 2.16 routes ``tf.keras`` to Keras 3 unless ``TF_USE_LEGACY_KERAS`` is true
when TensorFlow is imported. ``import dwr_larq`` chooses legacy Keras for the user when
TensorFlow is not loaded yet; when it already is, with Keras 3 behind ``tf.keras``, the
first of our calls that needs Keras raises one error naming the two fixes, instead of
larq failing deep inside its own import.
"""

from __future__ import annotations

import os
import sys

VARIABLE = "TF_USE_LEGACY_KERAS"
# The values TensorFlow itself reads as true (tensorflow/python/util/lazy_loader.py).
TRUE_VALUES = ("1", "true", "True")


class LegacyKerasRequired(RuntimeError):
    """``tf.keras`` is Keras 3, on which larq cannot build layers."""


def choose_legacy_keras() -> None:
    """Ask TensorFlow for tf-keras, unless TensorFlow is loaded already (changing the
    variable then would route ``tf.keras`` and ``tensorflow.keras`` differently) or the
    user set the variable themselves."""
    if "tensorflow" not in sys.modules:
        os.environ.setdefault(VARIABLE, "1")


def keras_3_version(tf) -> str | None:
    """The Keras 3 version behind ``tf.keras``, or None when it is tf-keras (or Keras 2).

    Only Keras 3 gives ``tf.keras`` a ``__version__``; asking settles TensorFlow's choice."""
    version = getattr(tf.keras, "__version__", None)
    return version if version and str(version).startswith("3.") else None


def require_legacy_keras() -> None:
    """Raise ``LegacyKerasRequired``, saying what happened and how to fix it, if
    ``tf.keras`` is Keras 3."""
    import tensorflow as tf

    version = keras_3_version(tf)
    if version is None:
        return
    setting = os.environ.get(VARIABLE)
    why = (f"{VARIABLE}={setting!r} is not true" if setting is not None and setting not in TRUE_VALUES
           else f"TensorFlow was imported before dwr_larq without {VARIABLE}=1")
    raise LegacyKerasRequired(
        f"dwr_larq needs legacy Keras (tf-keras), but tf.keras is Keras {version} because {why}; "
        f"larq does not support Keras 3. Fix: set {VARIABLE}=1 before TensorFlow is imported "
        f"(export {VARIABLE}=1 in the shell, or os.environ['{VARIABLE}'] = '1' before `import tensorflow`), "
        "or import dwr_larq before TensorFlow."
    )
