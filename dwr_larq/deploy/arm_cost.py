"""An ARM cost estimate of an LCE flatbuffer: instructions per inference on a Cortex-A72.

x86 cannot show what a Raspberry Pi will: LCE's x86 wheel runs portable C++ binary
kernels, so there latency follows binary MACs alone. This estimate prices every
operator of a converted model with per-op cost models fitted to measurements of LCE
0.16's aarch64 kernels (``shared/arm-costs``: guest instructions counted under
user-mode QEMU emulating a Cortex-A72, 1 thread, LCE's default ``bgemm`` binary-conv
kernel, ruy float GEMM, no XNNPACK). The fitted coefficients ship as
``arm_cost_model.json``, written by ``scripts/fit_arm_costs.py`` from
``shared/arm-costs/v2`` (rerun it when new measurements come); each op's prediction is
``const + sum(coef[f] * f)`` over the features defined below. Over the 30 measured zoo
models (every card at its default size, the shipped Fashion-MNIST shape 32x32x1, pad
shortcuts) the summed predictions are within 0.4% on average and 2.0% at worst (2.4%
leave-one-model-out); the JSON's ``per_model`` lists each.

It is an instruction count, a proxy for latency: it ignores caches, memory bandwidth
and how many cycles each instruction takes. It needs no TensorFlow, device or
emulator: only the flatbuffer. An op without a cost model is listed as unestimated,
never counted as zero.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path

from dwr_larq.deploy.flatbuffer import Operator, TensorInfo, list_operators

MODEL_FILE = Path(__file__).parent / "arm_cost_model.json"
# What the figure is, for every place that prints one.
DESCRIPTION = ("estimated aarch64 instructions per inference (LCE 0.16 kernels, emulated Cortex-A72, 1 thread, "
               "bgemm); a proxy for latency that ignores caches")


@functools.lru_cache(maxsize=None)
def cost_model() -> dict:
    return json.loads(MODEL_FILE.read_text())


def _up(value: int, multiple: int) -> int:
    return math.ceil(value / multiple) * multiple


def _pixels(shape) -> int:
    """N*H*W of a 4-D (NHWC) shape; all but the last axis otherwise."""
    return math.prod(shape[:-1]) if shape else 1


def _base(op) -> dict:
    """Element counts, plus how the output's channels split into the 16- and 4-wide
    vector steps and the scalar rest that element-wise kernels loop over per pixel."""
    in_el = sum(t.elements for t in op.activation_inputs)
    out = op.outputs[0].shape
    out_el = math.prod(out)
    out_px, channels = _pixels(out), (out[-1] if out else 1)
    return {"in_el": in_el, "out_el": out_el, "el": in_el + out_el, "out_px": out_px,
            "rows": sum(_pixels(t.shape) for t in op.activation_inputs),
            "quads_px": out_px * ((channels % 16) // 4), "tail_px": out_px * (channels % 4),
            "ragged_px": out_px if channels % 16 else 0}


def _bconv(op) -> dict:
    """LCE's BGEMM works on 8x4 output tiles (8 channels x 4 pixels) and a depth of
    whole 32-bit words, rounded up to 4 words; then each output element is transformed
    (float or bit-packed) and, with zero padding, the border corrected."""
    channels_out, k_h, k_w, words = op.kernel_shape
    pixels = _pixels(op.outputs[0].shape)
    depth = k_h * k_w * words
    source = op.activation_inputs[0]
    out_el = pixels * channels_out
    return {"mac32_tiled_depth4": _up(pixels, 4) * _up(channels_out, 8) * _up(depth, 4),
            "rhs_words_depth4": pixels * _up(depth, 4),
            "tiles": math.ceil(pixels / 4) * math.ceil(channels_out / 8),
            "out_el": out_el, "out_px": pixels, "in_words": source.elements,
            "packed_out_el": out_el if op.outputs[0].type == "INT32" else 0,
            "zero_pad_el": out_el if op.options.get("pad_values") == 0 and (k_h > 1 or k_w > 1) else 0}


def _conv(op) -> dict:
    """ruy's float GEMM on 8x8 tiles, after an im2col copy when the kernel or stride is not 1."""
    channels_out, k_h, k_w, channels_in = op.kernel_shape
    pixels = _pixels(op.outputs[0].shape)
    rhs = pixels * k_h * k_w * channels_in
    strided = k_h * k_w > 1 or op.options.get("stride_h", 1) > 1 or op.options.get("stride_w", 1) > 1
    return {**_base(op), "macs": rhs * channels_out, "rhs_el": rhs, "im2col": rhs if strided else 0,
            "im2col_px": pixels if strided else 0,
            "weights": channels_out * k_h * k_w * channels_in,
            "macs_tiled8": _up(channels_out, 8) * _up(pixels, 8) * k_h * k_w * channels_in}


def _depthwise(op) -> dict:
    """A 1x1 depthwise conv (a per-channel scale) takes another kernel path than a 3x3 one."""
    _, k_h, k_w, _ = op.kernel_shape
    base = _base(op)
    pointwise = k_h * k_w == 1
    return {**base, "macs": base["out_el"] * k_h * k_w,
            "k1_el": base["out_el"] if pointwise else 0, "k1_px": base["out_px"] if pointwise else 0}


def _fully_connected(op) -> dict:
    channels_out, channels_in = op.kernel_shape
    return {**_base(op), "macs": channels_out * channels_in}


def _pool(op) -> dict:
    """Float pools (TFLite's filter_h/filter_w) and LCE's bit-packed max pool (filter_height/filter_width)."""
    base = _base(op)
    options = op.options
    window = options.get("filter_h", options.get("filter_height")) * options.get("filter_w", options.get("filter_width"))
    return {**base, "win_el": base["out_el"] * window, "win_px": base["out_px"] * window}


def _quantize(op) -> dict:
    """LceQuantize packs 128-element NEON blocks over the whole tensor when the channels
    are a multiple of 32; otherwise pixel by pixel, with a partial word per pixel."""
    (source,) = op.activation_inputs
    channels, pixels = source.shape[-1], _pixels(source.shape)
    if channels % 32 == 0:
        blocks, rest = divmod(source.elements, 128)
        return {"q_blocks": blocks, "q_words": rest // 32, "q_pad": 0, "q_fill": 0, "q_rows": 0}
    return {"q_blocks": pixels * (channels // 128), "q_words": pixels * ((channels % 128) // 32),
            "q_pad": pixels, "q_fill": pixels * (32 - channels % 32), "q_rows": pixels}


FEATURES = {
    "LceBconv2d": _bconv,
    "LceQuantize": _quantize,
    "CONV_2D": _conv,
    "DEPTHWISE_CONV_2D": _depthwise,
    "FULLY_CONNECTED": _fully_connected,
    "AVERAGE_POOL_2D": _pool,
    "MAX_POOL_2D": _pool,
    "LceBMaxPool2d": _pool,
}


def measured_operator(record: dict) -> Operator:
    """One op record of the measurements (a line of ``shared/arm-costs/v2/ops.jsonl``) as
    the flatbuffer reader's ``Operator``, so the fit and the tests price what the estimate does."""
    inputs = tuple(None if shape is None else TensorInfo(tuple(shape), kind, const)
                   for shape, kind, const in zip(record["input_shapes"], record["input_types"], record["input_const"]))
    outputs = tuple(TensorInfo(tuple(shape), kind, False) for shape, kind in zip(record["output_shapes"], record["output_types"]))
    return Operator(record["node"], record["op"], inputs, outputs, record["options"])


def op_features(op) -> dict:
    return FEATURES.get(op.name, _base)(op)


def op_instructions(op) -> float | None:
    """The op's estimated instructions, or None when the cost model has no form for it."""
    model = cost_model()["op_models"].get(op.name)
    if model is None:
        return None
    features = op_features(op)
    coef = model["coef"]
    # A fitted intercept can be negative (DEPTHWISE_CONV_2D, MUL, PRELU); a tiny op never costs less than nothing.
    return max(0.0, coef.get("const", 0.0) + sum(coef[name] * features[name] for name in model["features"]))


@dataclass(frozen=True)
class OpCost:
    index: int
    op: str
    output_shape: list
    instructions: float | None  # None: no cost model for this op

    def to_dict(self) -> dict:
        return {"index": self.index, "op": self.op, "output_shape": self.output_shape,
                "arm_instructions": None if self.instructions is None else round(self.instructions)}


@dataclass(frozen=True)
class ArmEstimate:
    """The estimate of one flatbuffer: its total over the ops it can price, and each op's."""

    ops: tuple

    @property
    def instructions(self) -> float:
        """The sum over estimated ops (a lower bound when ``unestimated`` is not empty)."""
        return sum(op.instructions for op in self.ops if op.instructions is not None)

    @property
    def unestimated(self) -> list:
        """Op names without a cost model, each once, in graph order."""
        return list(dict.fromkeys(op.op for op in self.ops if op.instructions is None))

    @property
    def complete(self) -> bool:
        return not self.unestimated

    def by_op_type(self) -> dict:
        """Op type -> (instances, instructions or None, share of the estimated total or None)."""
        totals = {}
        for op in self.ops:
            count, value = totals.get(op.op, (0, 0.0))
            totals[op.op] = (count + 1, None if op.instructions is None or value is None else value + op.instructions)
        total = self.instructions
        return {name: {"count": count, "arm_instructions": None if value is None else round(value),
                       "share": None if value is None or not self.complete else round(value / total, 4)}
                for name, (count, value) in sorted(totals.items(), key=lambda kv: -(kv[1][1] or 0))}

    def to_dict(self, per_op: bool = False) -> dict:
        data = {"arm_instructions": round(self.instructions), "arm_complete": self.complete,
                "arm_unestimated_ops": self.unestimated, "arm_by_op_type": self.by_op_type()}
        if per_op:
            data["arm_ops"] = [op.to_dict() for op in self.ops]
        return data


def estimate(flatbuffer: bytes, path=None) -> ArmEstimate:
    """The ARM estimate of a TFLite flatbuffer (checked first; a bad file is a ``FlatbufferError``)."""
    return ArmEstimate(tuple(OpCost(op.index, op.name, list(op.outputs[0].shape) if op.outputs else [],
                                    op_instructions(op)) for op in list_operators(flatbuffer, path)))


def require_complete(result: ArmEstimate, what: str) -> float:
    """The total, or a ``ValueError`` naming the ops the cost model cannot price."""
    if not result.complete:
        raise ValueError(f"{what}: no ARM cost model for op(s) {', '.join(result.unestimated)}; "
                         f"the estimate covers the other ops only")
    return result.instructions


def estimate_keras(model) -> ArmEstimate:
    """Convert a Keras model with LCE (imports TensorFlow) and estimate the flatbuffer."""
    from dwr_larq.deploy.convert import to_flatbuffer

    return estimate(to_flatbuffer(model))


def estimate_spec(spec, input_size: int | None = None, channels: int = 3) -> ArmEstimate:
    """Build ``spec`` at ``input_size`` (default: the spec's), convert it, estimate it."""
    from dwr_larq.models.builder import measure_at_size

    def estimate_converted(model) -> ArmEstimate:
        try:
            return estimate_keras(model)
        except ValueError:
            raise
        except Exception as error:  # the converter's own failures name no model: say which
            raise ValueError(f"the spec (depths {list(spec.depths)}, widths {list(spec.widths)}) does not convert "
                             f"with LCE, so it has no ARM estimate: {type(error).__name__}: {error}") from None

    return measure_at_size(spec, estimate_converted, input_size, channels)
