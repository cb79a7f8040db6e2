"""Conversion to TFLite flatbuffers through the Larq Compute Engine, and its checks.

``convert`` wraps ``larq_compute_engine.convert_keras_model``, writes the file
atomically (a temporary file in the target folder, renamed when complete) and
reports what the flatbuffer contains, so a user can see that every binary conv
became an ``LceBconv2d``.
"""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass, field

import numpy as np

from dwr_larq.atomic import check_output_path, write_atomically

BINARY_CONV_OP = "LceBconv2d"


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


def count_ops(flatbuffer: bytes) -> dict:
    """Operator name -> count over all subgraphs (custom ops by their custom code)."""
    from larq_compute_engine.mlir.python import tflite_schema

    builtin_names = {v: k for k, v in vars(tflite_schema.BuiltinOperator).items() if not k.startswith("_")}
    model = tflite_schema.Model.GetRootAsModel(bytearray(flatbuffer), 0)
    counts = collections.Counter()
    for s in range(model.SubgraphsLength()):
        subgraph = model.Subgraphs(s)
        for o in range(subgraph.OperatorsLength()):
            code = model.OperatorCodes(subgraph.Operators(o).OpcodeIndex())
            custom = code.CustomCode()
            if custom:
                counts[custom.decode()] += 1
            else:
                counts[builtin_names[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())]] += 1
    return dict(sorted(counts.items()))


def to_flatbuffer(model) -> bytes:
    """The LCE flatbuffer of a Keras model (float32 input and output, ARM target)."""
    from larq_compute_engine import convert_keras_model

    return convert_keras_model(model)


def convert(model, path) -> ConversionReport:
    """Convert ``model`` with LCE and write it to ``path`` atomically."""
    path = check_output_path(path)
    start = time.perf_counter()
    flatbuffer = to_flatbuffer(model)
    seconds = time.perf_counter() - start
    write_atomically(path, flatbuffer)
    return ConversionReport(str(path), len(flatbuffer), seconds, count_ops(flatbuffer))


def interpreter(flatbuffer: bytes, num_threads: int = 1):
    """LCE's interpreter (reference kernels on x86, optimized ones on ARM)."""
    from larq_compute_engine.tflite.python.interpreter import Interpreter

    return Interpreter(flatbuffer, num_threads=num_threads)


def compare_with_keras(model, flatbuffer: bytes, images: np.ndarray) -> dict:
    """How closely the converted model reproduces Keras on ``images``."""
    expected = model.predict(images, verbose=0)
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
