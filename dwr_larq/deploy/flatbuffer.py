"""What a ``.tflite`` file says about itself without running it.

A bare flatbuffer has no Keras model to profile, but every ``LceBconv2d`` carries
its filter shape, its output shape and (in its custom options) its unpacked input
channel count: enough for the same binary MACs and activations that
``dwr_larq.models.costs`` counts on the Keras side. It also shows what LCE computes:
input channels bitpacked into 32-bit words, so a conv reading C channels costs
``ceil(C / 32) * 32`` channels' worth of XNOR-popcounts (``packed_binary_macs``).
"""

from __future__ import annotations

from pathlib import Path

from dwr_larq.deploy.convert import BINARY_CONV_OP, count_ops

TFLITE_IDENTIFIER = b"TFL3"  # bytes 4-8 of every TFLite flatbuffer


class FlatbufferError(ValueError):
    """A file that cannot be benchmarked as an LCE model."""


def read_lce_flatbuffer(path) -> bytes:
    """The bytes of ``path``, or a ``FlatbufferError`` saying why it is not an LCE model."""
    path = Path(path)
    if not path.is_file():
        raise FlatbufferError(f"{path}: no such file")
    data = path.read_bytes()
    if data[4:8] != TFLITE_IDENTIFIER:
        raise FlatbufferError(f"{path}: not a TFLite flatbuffer (no 'TFL3' identifier)")
    try:
        ops = count_ops(data)
    except Exception as error:  # a truncated or corrupt flatbuffer fails anywhere in the parser
        raise FlatbufferError(f"{path}: corrupt TFLite flatbuffer ({type(error).__name__}: {error})") from None
    if not ops:
        raise FlatbufferError(f"{path}: corrupt or empty TFLite flatbuffer (no operators)")
    if not any(op.startswith("Lce") for op in ops):
        raise FlatbufferError(
            f"{path}: has no LCE ops (ops: {', '.join(ops) or 'none'}); "
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
