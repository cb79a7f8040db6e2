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
import json
import math
import struct
from dataclasses import dataclass
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
    "OperatorCode": {"DeprecatedBuiltinCode": (0, "<b"), "BuiltinCode": (3, "<i")},
    "Tensor": {"Type": (1, "<b"), "Buffer": (2, "<I")},
    "Operator": {"OpcodeIndex": (0, "<I"), "BuiltinOptionsType": (3, "<B"), "LargeCustomOptionsOffset": (9, "<Q"),
                 "LargeCustomOptionsSize": (10, "<Q")},
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

    def string(self, table: _Table, index: int, what: str) -> bytes | None:
        found = self.vector(table, index, 1, what)
        if found and self.scalar("<B", found[0] + found[1], f"{what}'s terminator") != 0:
            raise _Corrupt(f"{what} is not a terminated string")
        return None if found is None else self.data[found[0] : found[0] + found[1]]


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


def _checked_tree(data: bytes, path=None) -> tuple:
    """(reader, the walked Model) of a whole TFLite flatbuffer, or a ``FlatbufferError``."""
    name = str(path) if path is not None else "flatbuffer"
    data = bytes(data)
    if len(data) < 8 or data[4:8] != TFLITE_IDENTIFIER:
        raise FlatbufferError(f"{name}: not a valid TFLite flatbuffer (no 'TFL3' identifier at bytes 4-8)")
    reader = _Reader(data)
    try:
        root = reader.scalar("<I", 0, "the root offset")
        model = _walk(reader, root, "Model", "Model")
        _check_indices(reader, model)
    except _Corrupt as error:
        raise FlatbufferError(f"{name}: not a valid TFLite flatbuffer ({error}; is it truncated?)") from None
    return reader, model


def check_flatbuffer(data: bytes, path=None) -> bytes:
    """``data`` if it is a whole TFLite flatbuffer, else a ``FlatbufferError`` naming
    ``path`` and the first thing wrong; run before any interpreter sees the bytes."""
    return _checked_tree(data, path)[0].data


def read_flatbuffer(path) -> bytes:
    """The bytes of the ``.tflite`` file ``path``, checked by ``check_flatbuffer``."""
    path = Path(path)
    if not path.is_file():
        raise FlatbufferError(f"{path}: no such file")
    return check_flatbuffer(path.read_bytes(), path)


# --- what the file holds ---------------------------------------------------------------------
# Read from the walked tree above, so no TensorFlow and no LCE: the ARM cost estimate
# (``dwr_larq.deploy.arm_cost``) runs anywhere the package installs.

_ENUMS = json.loads((Path(__file__).parent / "tflite_enums.json").read_text())
BUILTIN_OPS = {int(code): name for code, name in _ENUMS["BuiltinOperator"].items()}
TENSOR_TYPES = {int(code): name for code, name in _ENUMS["TensorType"].items()}
PADDINGS = {0: "SAME", 1: "VALID"}

# The builtin options the cost model and the figures read: union type -> (table, fields);
# each field is (field index, struct format, default), as in TFLite's schema.fbs.
_CONV = {"padding": (0, "<b", 0), "stride_w": (1, "<i", 0), "stride_h": (2, "<i", 0),
         "dilation_w": (4, "<i", 1), "dilation_h": (5, "<i", 1)}
BUILTIN_OPTIONS = {
    1: ("Conv2DOptions", _CONV),
    2: ("DepthwiseConv2DOptions", {"padding": (0, "<b", 0), "stride_w": (1, "<i", 0), "stride_h": (2, "<i", 0),
                                   "depth_multiplier": (3, "<i", 0), "dilation_w": (5, "<i", 1), "dilation_h": (6, "<i", 1)}),
    5: ("Pool2DOptions", {"padding": (0, "<b", 0), "stride_w": (1, "<i", 0), "stride_h": (2, "<i", 0),
                          "filter_w": (3, "<i", 0), "filter_h": (4, "<i", 0)}),
    10: ("ConcatenationOptions", {"axis": (0, "<i", 0)}),
}
# Ops whose second input is a weights tensor: its shape is the op's kernel shape
# (CONV_2D [O,kh,kw,I], DEPTHWISE_CONV_2D [1,kh,kw,C], FULLY_CONNECTED [O,I], LceBconv2d
# [O,kh,kw,ceil(I/32)] in bitpacked int32 words).
KERNEL_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", BINARY_CONV_OP}


@dataclass(frozen=True)
class TensorInfo:
    shape: tuple
    type: str
    const: bool  # its data is in the file (weights, shapes), not computed at run time

    @property
    def elements(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class Operator:
    """One operator of a TFLite graph, as far as its cost depends on it."""

    index: int  # position in the subgraph's operator list (execution order)
    name: str  # builtin name (CONV_2D) or custom code (LceBconv2d)
    inputs: tuple  # TensorInfo, or None for an optional input left out
    outputs: tuple
    options: dict

    @property
    def activation_inputs(self) -> list:
        """The non-constant inputs: what the op reads at run time."""
        return [t for t in self.inputs if t is not None and not t.const]

    @property
    def kernel_shape(self) -> tuple | None:
        if self.name in KERNEL_OPS and len(self.inputs) > 1 and self.inputs[1] is not None:
            return self.inputs[1].shape
        return None

    def to_dict(self) -> dict:
        return {"index": self.index, "op": self.name,
                "input_shapes": [list(t.shape) for t in self.activation_inputs],
                "output_shapes": [list(t.shape) for t in self.outputs],
                "kernel_shape": None if self.kernel_shape is None else list(self.kernel_shape),
                "options": self.options}


def _option_values(reader: _Reader, node: dict | None, fields: dict, what: str) -> dict:
    table = node["table"] if node else None
    values = {}
    for key, (index, fmt, default) in fields.items():
        pos = table.field(index, struct.calcsize(fmt)) if table else None
        values[key] = default if pos is None else reader.scalar(fmt, pos, f"{what}.{key}")
    if "padding" in values:
        values["padding"] = PADDINGS.get(values["padding"], values["padding"])
    return values


def _custom_options(reader: _Reader, vector, what: str) -> dict:
    """An LCE op's flexbuffer options (channels_in, strides, padding, ...)."""
    from flatbuffers import flexbuffers

    start, length = vector or (0, 0)
    if not length:
        return {}
    try:
        options = flexbuffers.Loads(reader.data[start : start + length])
    except Exception as error:  # the decoder is not bounds-checked: any failure means damaged options
        raise _Corrupt(f"{what}'s custom options cannot be decoded ({type(error).__name__})") from None
    return options if isinstance(options, dict) else {"value": options}


def _op_name(reader: _Reader, code: dict) -> str:
    table = code["table"]
    custom = reader.string(table, SCHEMA["OperatorCode"]["CustomCode"][0], f"{table.what}.CustomCode")
    if custom:
        return custom.decode("utf-8", "replace")
    number = max(table.scalar("BuiltinCode"), table.scalar("DeprecatedBuiltinCode"))
    return BUILTIN_OPS.get(number, f"BUILTIN_{number}")


def _tensor_info(reader: _Reader, tensor: dict, buffers: list) -> TensorInfo:
    buffer = buffers[tensor["table"].scalar("Buffer")]
    data = buffer.get("Data")
    const = bool(data and data[1]) or (buffer["table"].scalar("Offset") > 1 and buffer["table"].scalar("Size") > 0)
    kind = tensor["table"].scalar("Type")
    return TensorInfo(tuple(int(d) for d in _ints(reader, tensor["Shape"])), TENSOR_TYPES.get(kind, str(kind)), const)


def list_operators(flatbuffer: bytes, path=None) -> list:
    """Every operator of the main subgraph, in execution order, with its tensors' shapes,
    const-ness, kernel shape and the options the cost figures need. No TensorFlow."""
    reader, model = _checked_tree(flatbuffer, path)
    names = [_op_name(reader, code) for code in model["OperatorCodes"]]
    subgraph = model["Subgraphs"][0]
    tensors = [_tensor_info(reader, t, model["Buffers"]) for t in subgraph["Tensors"]]
    operators = []
    try:
        for index, node in enumerate(subgraph["Operators"]):
            table = node["table"]
            name = names[table.scalar("OpcodeIndex")]
            if name.startswith("Lce"):
                options = _custom_options(reader, node["CustomOptions"], table.what)
            else:
                _, fields = BUILTIN_OPTIONS.get(table.scalar("BuiltinOptionsType"), (None, {}))
                options = _option_values(reader, node["BuiltinOptions"], fields, table.what)
            inputs = tuple(None if i < 0 else tensors[i] for i in _ints(reader, node["Inputs"]))
            outputs = tuple(tensors[i] for i in _ints(reader, node["Outputs"]))
            operators.append(Operator(index, name, inputs, outputs, options))
    except _Corrupt as error:
        raise FlatbufferError(f"{path or 'flatbuffer'}: not a valid TFLite flatbuffer ({error})") from None
    return operators


def model_input_shape(flatbuffer: bytes) -> list | None:
    """The first input's shape without the batch axis."""
    reader, model = _checked_tree(flatbuffer)
    subgraph = model["Subgraphs"][0]
    inputs = _ints(reader, subgraph["Inputs"])
    if not len(inputs):
        return None
    return [int(d) for d in _ints(reader, subgraph["Tensors"][inputs[0]]["Shape"])][1:]


def count_ops(flatbuffer: bytes) -> dict:
    """Operator name -> count (custom ops by their custom code)."""
    return dict(sorted(collections.Counter(op.name for op in list_operators(flatbuffer)).items()))


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


def binary_conv_figures(flatbuffer: bytes) -> dict:
    """Binary convs, binary MACs, packed binary MACs (input channels rounded up to whole
    32-bit words, what the kernels compute) and activations (elements entering binary convs)."""
    convs = macs = packed = activations = 0
    for op in list_operators(flatbuffer):
        if op.name != BINARY_CONV_OP:
            continue
        channels_in = op.options["channels_in"]
        _, in_h, in_w, _ = op.inputs[0].shape
        out_channels, k_h, k_w, words = op.kernel_shape  # OHWI, I in 32-bit words
        _, out_h, out_w, _ = op.outputs[0].shape
        convs += 1
        macs += out_h * out_w * out_channels * k_h * k_w * channels_in
        packed += out_h * out_w * out_channels * k_h * k_w * words * 32
        activations += in_h * in_w * channels_in
    return {"binary_convs": convs, "binary_macs": macs, "packed_binary_macs": packed, "activations": activations,
            "input_shape": model_input_shape(flatbuffer)}
