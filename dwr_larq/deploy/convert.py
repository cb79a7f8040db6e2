"""Conversion to TFLite flatbuffers through the Larq Compute Engine, and running them.

``convert`` wraps ``larq_compute_engine.convert_keras_model``, writes the file
atomically (a temporary file in the target folder, renamed when complete) and
reports what the flatbuffer contains, so a user can see that every binary conv
became an ``LceBconv2d``.

``lite_interpreter`` is the one place an LCE interpreter is made: it checks the
flatbuffer first (``dwr_larq.deploy.flatbuffer.check_flatbuffer``), since LCE's
interpreter crashes the process on a truncated file, and it loads LCE's compiled
wrapper without TensorFlow, so the timing worker stays small.
"""

from __future__ import annotations

import functools
import glob
import importlib.machinery
import importlib.util
import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from dwr_larq.atomic import check_output_path, write_atomically
from dwr_larq.deploy.flatbuffer import BINARY_CONV_OP, check_flatbuffer, count_ops

# LCE's bconv kernels, as the interpreter's (use_reference_bconv, use_indirect_bgemm) flags.
BCONV_KERNELS = {
    "bgemm": (False, False),  # LCE's default: im2col + BGEMM through ruy
    "indirect": (False, True),  # indirect BGEMM (no im2col buffer)
    "reference": (True, False),  # the reference implementation
}


@dataclass(frozen=True)
class ConversionReport:
    path: str
    size_bytes: int
    seconds: float
    op_counts: dict = field(default_factory=dict)

    @property
    def binary_convs(self) -> int:
        return self.op_counts.get(BINARY_CONV_OP, 0)

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "size_bytes": self.size_bytes,
            "seconds": round(self.seconds, 3),
            "op_counts": self.op_counts,
        }


def to_flatbuffer(model) -> bytes:
    """The LCE flatbuffer of a Keras model (float32 input and output, ARM target)."""
    from larq_compute_engine import convert_keras_model

    return convert_keras_model(model)


def convert(model, path) -> ConversionReport:
    """Convert ``model`` with LCE and write it to ``path`` atomically."""
    path = check_output_path(path)
    start = time.perf_counter()
    flatbuffer = check_flatbuffer(to_flatbuffer(model), path)
    seconds = time.perf_counter() - start
    write_atomically(path, flatbuffer)
    return ConversionReport(str(path), len(flatbuffer), seconds, count_ops(flatbuffer))


@functools.lru_cache(maxsize=None)
def _interpreter_wrapper():
    """LCE's compiled interpreter wrapper. Loaded from its file under its own module name
    when LCE's package is not imported yet, as its ``__init__`` imports the converter and
    with it TensorFlow; a later ``import larq_compute_engine`` then finds it loaded."""
    name = "larq_compute_engine.tflite.python.interpreter_wrapper_lite"
    if "larq_compute_engine" in sys.modules:
        return importlib.import_module(name)
    spec = importlib.util.find_spec("larq_compute_engine")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("larq_compute_engine is not installed")
    folder = os.path.join(spec.submodule_search_locations[0], "tflite", "python")
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        for path in glob.glob(os.path.join(folder, "interpreter_wrapper_lite" + suffix)):
            module_spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(module)
            sys.modules[name] = module
            return module
    raise RuntimeError(f"no interpreter_wrapper_lite extension in {folder}")


def lite_interpreter(flatbuffer: bytes, num_threads: int = 1, kernel: str = "bgemm", path=None):
    """LCE's compiled interpreter (``LiteInterpreter``: ``predict(list of arrays)``, input and
    output shapes and types) for a flatbuffer checked first, so a bad file is a ``ValueError``
    naming ``path`` instead of a crash. Reference kernels on x86, optimized ones on ARM."""
    if kernel not in BCONV_KERNELS:
        raise ValueError(f"unknown bconv kernel {kernel!r}; one of {', '.join(BCONV_KERNELS)}")
    flatbuffer = check_flatbuffer(flatbuffer, path)
    reference, indirect = BCONV_KERNELS[kernel]
    return _interpreter_wrapper().LiteInterpreter(flatbuffer, num_threads, reference, indirect, False)


def interpreter(flatbuffer: bytes, num_threads: int = 1, kernel: str = "bgemm", path=None):
    """LCE's ``Interpreter`` API (``predict`` over a batch, one image at a time) around
    ``lite_interpreter``; imports LCE's Python package, and with it TensorFlow."""
    from larq_compute_engine.tflite.python.interpreter_base import InterpreterBase

    return InterpreterBase(lite_interpreter(flatbuffer, num_threads, kernel, path))


def compare_with_keras(model, flatbuffer: bytes, images: np.ndarray) -> dict:
    """How closely the converted model reproduces Keras on ``images`` (a few: one eager
    call, which for a one-off batch is many times faster than ``predict``'s tracing)."""
    expected = np.asarray(model(images, training=False))
    actual = interpreter(flatbuffer).predict(images.astype(np.float32))
    per_image = np.abs(expected - actual).reshape(len(images), -1).max(axis=1)
    return {
        "images": int(len(images)),
        "top1_agreement": float(np.mean(expected.argmax(-1) == actual.argmax(-1))),
        "max_abs_diff": float(per_image.max()),
        # A pre-sign value within float rounding of zero can flip one sign and change an
        # image's output; the share of images that match to 1e-4 shows how rare that is.
        "images_within_1e-4": float(np.mean(per_image < 1e-4)),
    }
