"""What a ``.tflite`` file says about itself without running it, and whether it is whole.

LCE's interpreter trusts its input: random bytes make it raise, and a flatbuffer cut
short makes it read past the end of the file and crash the process. ``check_flatbuffer``
walks TFLite's schema first, with every table, vtable, vector and string bounds-checked
and every index (operator code, tensor, buffer) in range, so a bad file is one
``FlatbufferError`` naming it; ``dwr_larq.deploy.convert.lite_interpreter`` calls it
before it makes any interpreter. The check imports neither TensorFlow nor LCE, so the
timing worker runs it too.

A bare flatbuffer has no Keras model to profile, but every ``LceBconv2d`` carries
its filter shape, its output shape and (in its custom options) its unpacked input
channel count: enough for the same binary MACs and activations that
``dwr_larq.models.costs`` counts on the Keras side. It also shows what LCE computes:
input channels bitpacked into 32-bit words, so a conv reading C channels costs
``ceil(C / 32) * 32`` channels' worth of XNOR-popcounts (``packed_binary_macs``).
"""

from __future__ import annotations

import collections
import struct
from pathlib import Path

import numpy as np

BINARY_CONV_OP = "LceBconv2d"
TFLITE_IDENTIFIER = b"TFL3"  # bytes 4-8 of every TFLite flatbuffer


class FlatbufferError(ValueError):
    """A file or bytes that are not a TFLite flatbuffer the interpreter can safely read."""


# --- the structural check ------------------------------------------------------------------

TABLE, TABLES, VECTOR, STRING, UNION = "table", "tables", "vector", "string", "union"
_SPARSE_VECTORS = {1: "Int32Vector", 2: "Uint16Vector", 3: "Uint8Vector"}

# The fields of TFLite's schema (tensorflow/lite/schema/schema.fbs) that point elsewhere
# in the file: table -> field -> (field index, kind, argument). The argument is the
# table type (TABLE/TABLES), the element size in bytes (VECTOR) or, for a UNION, the
# index of its type field and the table for each type (None: options tables, whose
# own layout only the kernels read; their header is checked). tests/deploy pins the
# indices to LCE's generated schema.
SCHEMA = {
    "Model": {"OperatorCodes": (1, TABLES, "OperatorCode"), "Subgraphs": (2, TABLES, "SubGraph"),
              "Description": (3, STRING, None), "Buffers": (4, TABLES, "Buffer"), "MetadataBuffer": (5, VECTOR, 4),
              "Metadata": (6, TABLES, "Metadata"), "SignatureDefs": (7, TABLES, "SignatureDef")},
    "OperatorCode": {"CustomCode": (1, STRING, None)},
    "SubGraph": {"Tensors": (0, TABLES, "Tensor"), "Inputs": (1, VECTOR, 4), "Outputs": (2, VECTOR, 4),
                 "Operators": (3, TABLES, "Operator"), "Name": (4, STRING, None)},
    "Tensor": {"Shape": (0, VECTOR, 4), "Name": (3, STRING, None), "Quantization": (4, TABLE, "QuantizationParameters"),
               "Sparsity": (6, TABLE, "SparsityParameters"), "ShapeSignature": (7, VECTOR, 4),
               "VariantTensors": (9, TABLES, "VariantSubType")},
    "QuantizationParameters": {"Min": (0, VECTOR, 4), "Max": (1, VECTOR, 4), "Scale": (2, VECTOR, 4),
                               "ZeroPoint": (3, VECTOR, 8), "Details": (5, UNION, (4, None))},
    "SparsityParameters": {"TraversalOrder": (0, VECTOR, 4), "BlockMap": (1, VECTOR, 4),
                           "DimMetadata": (2, TABLES, "DimensionMetadata")},
    "DimensionMetadata": {"ArraySegments": (3, UNION, (2, _SPARSE_VECTORS)), "ArrayIndices": (5, UNION, (4, _SPARSE_VECTORS))},
    "Int32Vector": {"Values": (0, VECTOR, 4)},
    "Uint16Vector": {"Values": (0, VECTOR, 2)},
    "Uint8Vector": {"Values": (0, VECTOR, 1)},
    "VariantSubType": {"Shape": (0, VECTOR, 4)},
    "Operator": {"Inputs": (1, VECTOR, 4), "Outputs": (2, VECTOR, 4), "BuiltinOptions": (4, UNION, (3, None)),
                 "CustomOptions": (5, VECTOR, 1), "MutatingVariableInputs": (7, VECTOR, 1), "Intermediates": (8, VECTOR, 4),
                 "BuiltinOptions2": (12, UNION, (11, None))},
    "Buffer": {"Data": (0, VECTOR, 1)},
    "Metadata": {"Name": (0, STRING, None)},
    "SignatureDef": {"Inputs": (0, TABLES, "TensorMap"), "Outputs": (1, TABLES, "TensorMap"), "SignatureKey": (2, STRING, None)},
    "TensorMap": {"Name": (0, STRING, None)},
}
# The scalar fields the check reads: table -> field -> (field index, struct format).
SCALARS = {
    "Tensor": {"Buffer": (2, "<I")},
    "Operator": {"OpcodeIndex": (0, "<I"), "LargeCustomOptionsOffset": (9, "<Q"), "LargeCustomOptionsSize": (10, "<Q")},
    "Buffer": {"Offset": (1, "<Q"), "Size": (2, "<Q")},
    "Metadata": {"Buffer": (1, "<I")},
    "SignatureDef": {"SubgraphIndex": (4, "<I")},
    "TensorMap": {"TensorIndex": (1, "<I")},
}


class _Corrupt(Exception):
    """Raised inside the walk; ``check_flatbuffer`` turns it into a ``FlatbufferError`` naming the file."""


class _Reader:
    """Reads of a flatbuffer that fail, rather than wander, outside its bytes."""

    def __init__(self, data: bytes):
        self.data = data

    def need(self, pos: int, size: int, what: str) -> None:
        if pos < 0:
            raise _Corrupt(f"{what} lies before the start of the file")
        if pos + size > len(self.data):
            raise _Corrupt(f"{what} (bytes {pos}-{pos + size}) lies outside the {len(self.data)}-byte file")

    def scalar(self, fmt: str, pos: int, what: str):
        self.need(pos, struct.calcsize(fmt), what)
        return struct.unpack_from(fmt, self.data, pos)[0]

    def table(self, pos: int, name: str, what: str) -> _Table:
        vtable = pos - self.scalar("<i", pos, what)
        vtable_size = self.scalar("<H", vtable, f"{what}'s vtable")
        table_size = self.scalar("<H", vtable + 2, f"{what}'s vtable")
        if vtable_size < 4 or vtable_size % 2 or table_size < 4:
            raise _Corrupt(f"{what} has a malformed vtable")
        self.need(vtable, vtable_size, f"{what}'s vtable")
        self.need(pos, table_size, what)
        return _Table(self, name, what, pos, vtable, vtable_size, table_size)

    def vector(self, table: _Table, index: int, item_size: int, what: str):
        """(first item's position, length) of a vector field, or None when absent."""
        start = table.target(index, what)
        if start is None:
            return None
        length = self.scalar("<I", start, f"{what}'s length")
        self.need(start + 4, length * item_size, what)
        return start + 4, length

    def string(self, table: _Table, index: int, what: str) -> None:
        found = self.vector(table, index, 1, what)
        if found and self.scalar("<B", found[0] + found[1], f"{what}'s terminator") != 0:
            raise _Corrupt(f"{what} is not a terminated string")


class _Table:
    """One table of the file: where its fields are, from its vtable."""

    def __init__(self, reader, name, what, pos, vtable, vtable_size, table_size):
        self.reader, self.name, self.what = reader, name, what
        self.pos, self.vtable, self.vtable_size, self.table_size = pos, vtable, vtable_size, table_size

    def field(self, index: int, size: int):
        """The position of field ``index`` (``size`` bytes inline), or None when absent."""
        entry = 4 + 2 * index
        if entry + 2 > self.vtable_size:
            return None
        offset = self.reader.scalar("<H", self.vtable + entry, f"{self.what}'s vtable")
        if offset == 0:
            return None
        if offset + size > self.table_size:
            raise _Corrupt(f"field {index} of {self.what} lies outside its table")
        return self.pos + offset

    def target(self, index: int, what: str):
        """Where the offset in field ``index`` points, or None when absent."""
        pos = self.field(index, 4)
        return None if pos is None else pos + self.reader.scalar("<I", pos, what)

    def scalar(self, field: str, default: int = 0):
        index, fmt = SCALARS[self.name][field]
        pos = self.field(index, struct.calcsize(fmt))
        return default if pos is None else self.reader.scalar(fmt, pos, f"{self.what}.{field}")


def _walk(reader: _Reader, pos: int, name: str | None, what: str) -> dict:
    """Check the table at ``pos`` and everything it points to; return its fields."""
    table = reader.table(pos, name, what)
    node = {"table": table}
    for field, (index, kind, argument) in SCHEMA.get(name, {}).items():
        where = f"{what}.{field}"
        if kind == STRING:
            reader.string(table, index, where)
        elif kind == VECTOR:
            node[field] = reader.vector(table, index, argument, where)
        elif kind == TABLES:
            found = reader.vector(table, index, 4, where)
            start, length = found or (0, 0)
            node[field] = [
                _walk(reader, start + 4 * i + reader.scalar("<I", start + 4 * i, where), argument, f"{where}[{i}]")
                for i in range(length)
            ]
        else:  # TABLE or UNION
            if kind == UNION:
                type_index, tables = argument
                type_pos = table.field(type_index, 1)
                kind_code = 0 if type_pos is None else reader.scalar("<B", type_pos, where)
                argument = tables.get(kind_code) if tables else None
            child = table.target(index, where)
            node[field] = None if child is None else _walk(reader, child, argument, where)
    return node


def _ints(reader: _Reader, vector) -> np.ndarray:
    start, length = vector or (0, 0)
    return np.frombuffer(reader.data, dtype="<i4", count=length, offset=start) if length else np.zeros(0, "<i4")


def _check_indices(reader: _Reader, model: dict) -> None:
    """Every index the interpreter follows names something that exists."""
    size = len(reader.data)
    buffers, codes, subgraphs = model["Buffers"], model["OperatorCodes"], model["Subgraphs"]
    if not subgraphs:
        raise _Corrupt("it has no subgraph")
    for buffer in buffers:
        offset, length = buffer["table"].scalar("Offset"), buffer["table"].scalar("Size")
        if offset > 1 and offset + length > size:  # offset 1 marks a buffer not yet placed
            raise _Corrupt(f"{buffer['table'].what}'s data (bytes {offset}-{offset + length}) lies outside the {size}-byte file")
    for metadata in model["Metadata"]:
        if metadata["table"].scalar("Buffer") >= len(buffers):
            raise _Corrupt(f"{metadata['table'].what} names buffer {metadata['table'].scalar('Buffer')} of {len(buffers)}")
    for subgraph in subgraphs:
        tensors = len(subgraph["Tensors"])
        for tensor in subgraph["Tensors"]:
            if tensor["table"].scalar("Buffer") >= len(buffers):
                raise _Corrupt(f"{tensor['table'].what} names buffer {tensor['table'].scalar('Buffer')} of {len(buffers)}")
        for field in ("Inputs", "Outputs"):
            indices = _ints(reader, subgraph[field])
            if np.any((indices < 0) | (indices >= tensors)):
                raise _Corrupt(f"{subgraph['table'].what}.{field} names a tensor outside 0-{tensors - 1}")
        for operator in subgraph["Operators"]:
            table = operator["table"]
            if table.scalar("OpcodeIndex") >= len(codes):
                raise _Corrupt(f"{table.what} names operator code {table.scalar('OpcodeIndex')} of {len(codes)}")
            for field in ("Inputs", "Outputs", "Intermediates"):
                indices = _ints(reader, operator[field])
                if np.any((indices < -1) | (indices >= tensors)):  # -1: an optional input left out
                    raise _Corrupt(f"{table.what}.{field} names a tensor outside 0-{tensors - 1}")
            offset, length = table.scalar("LargeCustomOptionsOffset"), table.scalar("LargeCustomOptionsSize")
            if length and offset + length > size:
                raise _Corrupt(f"{table.what}'s custom options (bytes {offset}-{offset + length}) lie outside the {size}-byte file")
    for signature in model["SignatureDefs"]:
        index = signature["table"].scalar("SubgraphIndex")
        if index >= len(subgraphs):
            raise _Corrupt(f"{signature['table'].what} names subgraph {index} of {len(subgraphs)}")
        tensors = len(subgraphs[index]["Tensors"])
        for entry in signature["Inputs"] + signature["Outputs"]:
            if entry["table"].scalar("TensorIndex") >= tensors:
                raise _Corrupt(f"{entry['table'].what} names tensor {entry['table'].scalar('TensorIndex')} of {tensors}")


def check_flatbuffer(data: bytes, path=None) -> bytes:
    """``data`` if it is a whole TFLite flatbuffer, else a ``FlatbufferError`` naming
    ``path`` and the first thing wrong; run before any interpreter sees the bytes."""
    name = str(path) if path is not None else "flatbuffer"
    data = bytes(data)
    if len(data) < 8 or data[4:8] != TFLITE_IDENTIFIER:
        raise FlatbufferError(f"{name}: not a valid TFLite flatbuffer (no 'TFL3' identifier at bytes 4-8)")
    reader = _Reader(data)
    try:
        root = reader.scalar("<I", 0, "the root offset")
        _check_indices(reader, _walk(reader, root, "Model", "Model"))
    except _Corrupt as error:
        raise FlatbufferError(f"{name}: not a valid TFLite flatbuffer ({error}; is it truncated?)") from None
    return data


def read_flatbuffer(path) -> bytes:
    """The bytes of the ``.tflite`` file ``path``, checked by ``check_flatbuffer``."""
    path = Path(path)
    if not path.is_file():
        raise FlatbufferError(f"{path}: no such file")
    return check_flatbuffer(path.read_bytes(), path)


# --- what the file holds ---------------------------------------------------------------------


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


def read_lce_flatbuffer(path) -> bytes:
    """The bytes of ``path``, or a ``FlatbufferError`` saying why it is not an LCE model."""
    data = read_flatbuffer(path)
    ops = count_ops(data)
    if not ops:
        raise FlatbufferError(f"{path}: an empty TFLite flatbuffer (no operators)")
    if not any(op.startswith("Lce") for op in ops):
        raise FlatbufferError(
            f"{path}: has no LCE ops (ops: {', '.join(ops)}); "
            "convert the model with larq_compute_engine.convert_keras_model (dwr-larq convert)"
        )
    return data


def _tensor_shape(subgraph, index: int) -> list:
    return subgraph.Tensors(index).ShapeAsNumpy().tolist()


def binary_conv_figures(flatbuffer: bytes) -> dict:
    """Binary convs, binary MACs, packed binary MACs (input channels rounded up to whole
    32-bit words, what the kernels compute) and activations (elements entering binary convs)."""
    from flatbuffers import flexbuffers
    from larq_compute_engine.mlir.python import tflite_schema

    model = tflite_schema.Model.GetRootAsModel(bytearray(flatbuffer), 0)
    convs = macs = packed = activations = 0
    input_shape = None
    for s in range(model.SubgraphsLength()):
        subgraph = model.Subgraphs(s)
        if s == 0 and subgraph.InputsLength():
            input_shape = _tensor_shape(subgraph, subgraph.Inputs(0))[1:]
        for o in range(subgraph.OperatorsLength()):
            op = subgraph.Operators(o)
            if model.OperatorCodes(op.OpcodeIndex()).CustomCode() != BINARY_CONV_OP.encode():
                continue
            channels_in = flexbuffers.Loads(op.CustomOptionsAsNumpy().tobytes())["channels_in"]
            _, in_h, in_w, _ = _tensor_shape(subgraph, op.Inputs(0))
            out_channels, k_h, k_w, words = _tensor_shape(subgraph, op.Inputs(1))  # OHWI, I in 32-bit words
            _, out_h, out_w, _ = _tensor_shape(subgraph, op.Outputs(0))
            convs += 1
            macs += out_h * out_w * out_channels * k_h * k_w * channels_in
            packed += out_h * out_w * out_channels * k_h * k_w * words * 32
            activations += in_h * in_w * channels_in
    return {"binary_convs": convs, "binary_macs": macs, "packed_binary_macs": packed, "activations": activations,
            "input_shape": input_shape}
