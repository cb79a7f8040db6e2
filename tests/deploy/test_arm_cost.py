"""The ARM estimate against the shared measurements of LCE 0.16's aarch64 kernels
(tests/data/arm_costs, copied from shared/arm-costs/v2).

Three layers, so a failure says which part is wrong: the cost model's features over the
measured op records reproduce every measured total within 3%, and the fitting script
regenerates the shipped coefficients from the same data; the TF-free flatbuffer reader
lists the same ops, shapes and options for today's conversions; and the estimate of
today's conversion of each zoo model stays within 3% of its measured total. Each model is
converted once per session; the ImageNet-sized conversions (10-60 s each on a loaded
2-core host) are ``slow``.
"""

import csv
import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest

from dwr_larq import zoo
from dwr_larq.deploy import arm_cost, flatbuffer
from dwr_larq.deploy.flatbuffer import TensorInfo

DATA = Path(__file__).parent.parent / "data" / "arm_costs"
SCRIPTS = Path(__file__).parent.parent.parent / "scripts"
MEASURED = {row["model"]: row for row in csv.DictReader((DATA / "results.tsv").read_text().splitlines(), delimiter="\t")}
RECORDS = [json.loads(line) for line in (DATA / "ops.jsonl").read_text().splitlines()]
CHECKED = [name for name, row in MEASURED.items() if row["group"] in ("zoo", "fmnist", "pad")]
# Zoo models small enough to convert in the fast suite (CIFAR-10, 32x32).
CIFAR = [name for name in zoo.list_models() if zoo.get_card(name).spec.input_size == 32]
# The CIFAR-sized cards shared/arm-costs measured (cards added since have no measured graph).
CIFAR_MEASURED = [name for name in CIFAR if f"zoo_{name}" in MEASURED]


def measured_total(name) -> float:
    return float(MEASURED[name]["instructions_per_inference"])


def records_of(name):
    return sorted((r for r in RECORDS if r["model"] == name), key=lambda r: r["position"])


def estimate_of_records(name) -> float:
    return sum(arm_cost.op_instructions(arm_cost.measured_operator(r)) for r in records_of(name))


# --- the cost model over the measured ops ---------------------------------------------------


@pytest.mark.parametrize("name", CHECKED)
def test_the_features_over_the_measured_ops_are_within_3_percent_of_each_measured_total(name):
    assert estimate_of_records(name) == pytest.approx(measured_total(name), rel=0.03)


# The worst in-sample errors of the shipped fit and two of the shipped-weights shape: a refit that
# moves them by more than 0.3 points (or a feature that changes) fails here first.
PINNED = {"zoo_ReActResNet20DWR": -0.0199, "zoo_ReActNetA": 0.0085, "fmnist_ResNet20DWR": -0.0078,
          "fmnist_ResNet20DWRLCE": -0.0037, "pad_ResNet20DWR": -0.0043, "zoo_BiRealResNet18": -0.0018}


@pytest.mark.parametrize("name", PINNED)
def test_the_pinned_per_model_errors_hold(name):
    assert estimate_of_records(name) / measured_total(name) - 1 == pytest.approx(PINNED[name], abs=0.003)
    shipped = arm_cost.cost_model()["per_model"][name]
    assert shipped["rel_err"] == pytest.approx(PINNED[name], abs=5e-5) and abs(shipped["lomo_rel_err"]) < 0.03


def test_every_measured_op_type_has_a_cost_model():
    assert {r["op"] for r in RECORDS} <= set(arm_cost.cost_model()["op_models"])


def test_the_fitting_script_regenerates_the_shipped_coefficients(tmp_path):
    out = tmp_path / "model.json"
    result = subprocess.run([sys.executable, str(SCRIPTS / "fit_arm_costs.py"), "--measurements", str(DATA), "--out", str(out)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    fitted, shipped = json.loads(out.read_text()), arm_cost.cost_model()
    assert fitted["op_models"].keys() == shipped["op_models"].keys()
    for op, model in fitted["op_models"].items():
        assert model["features"] == shipped["op_models"][op]["features"], op
        assert model["coef"] == pytest.approx(shipped["op_models"][op]["coef"], rel=1e-6, abs=1e-6), op
    assert fitted["fit_summary"]["max_abs_rel_err"] < 0.03 and fitted["fit_summary"]["lomo_max_abs_rel_err"] < 0.03
    assert "zoo_ReActResNet20DWR" in result.stdout and "lomo" in result.stdout


def test_the_fitting_script_names_a_missing_measurements_folder(tmp_path):
    out = tmp_path / "model.json"
    result = subprocess.run([sys.executable, str(SCRIPTS / "fit_arm_costs.py"), "--measurements", str(tmp_path / "none"), "--out", str(out)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and "no ops.jsonl and results.tsv there" in result.stderr
    assert "Traceback" not in result.stderr and not out.exists()


def test_an_op_without_a_cost_model_is_listed_never_zero():
    ops = (flatbuffer.Operator(0, "CONV_2D", (TensorInfo((1, 8, 8, 3), "FLOAT32", False), TensorInfo((4, 3, 3, 3), "FLOAT32", True)),
                               (TensorInfo((1, 8, 8, 4), "FLOAT32", False),), {}),
           flatbuffer.Operator(1, "TANH", (TensorInfo((1, 8, 8, 4), "FLOAT32", False),), (TensorInfo((1, 8, 8, 4), "FLOAT32", False),), {}))
    result = arm_cost.ArmEstimate(tuple(arm_cost.OpCost(op.index, op.name, list(op.outputs[0].shape), arm_cost.op_instructions(op))
                                        for op in ops))
    assert result.unestimated == ["TANH"] and not result.complete
    assert result.ops[1].instructions is None and result.instructions == result.ops[0].instructions > 0
    figures = result.to_dict(per_op=True)
    assert figures["arm_unestimated_ops"] == ["TANH"] and figures["arm_ops"][1]["arm_instructions"] is None
    assert figures["arm_by_op_type"]["TANH"] == {"count": 1, "arm_instructions": None, "share": None}
    assert figures["arm_by_op_type"]["CONV_2D"]["share"] is None  # shares of an incomplete total are unknown
    with pytest.raises(ValueError, match="no ARM cost model for op.s. TANH"):
        arm_cost.require_complete(result, "test model")


# --- the reader against the measured graphs ------------------------------------------------

@pytest.mark.parametrize("name", CIFAR_MEASURED)
def test_the_reader_lists_the_ops_that_were_measured(name, converted):
    """Today's conversions are the graphs that were measured: same ops, shapes and options."""
    ops = flatbuffer.list_operators(converted(name))
    records = records_of(f"zoo_{name}")
    assert [op.name for op in ops] == [r["op"] for r in records]
    for op, record in zip(ops, records):
        assert [t and list(t.shape) for t in op.inputs] == record["input_shapes"], (name, op.index)
        assert [t and t.const for t in op.inputs] == [c if s else None for s, c in zip(record["input_shapes"], record["input_const"])]
        assert [list(t.shape) for t in op.outputs] == record["output_shapes"], (name, op.index)
        assert op.to_dict()["kernel_shape"] == record["filter_shape"], (name, op.index)
        shared = op.options.keys() & record["options"].keys()  # the measurements leave out depthwise dilations
        assert shared or not op.options, (name, op.index)
        assert {key: op.options[key] for key in shared} == {key: record["options"][key] for key in shared}, (name, op.index)


def test_the_reader_and_estimate_import_no_tensorflow(converted, tmp_path):
    path = tmp_path / "m.tflite"
    path.write_bytes(converted("ResNet20"))
    code = ("import sys; from dwr_larq.deploy import arm_cost; "
            f"e = arm_cost.estimate(open({str(path)!r}, 'rb').read()); "
            "assert e.complete and e.instructions > 0; assert 'tensorflow' not in sys.modules, 'TF imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# --- today's conversions against the measured totals and ratios -----------------------------


def zoo_params():
    """The zoo models shared/arm-costs measured (cards added since have no measured total)."""
    return [pytest.param(n, marks=() if n in CIFAR else pytest.mark.slow) for n in zoo.list_models()
            if f"zoo_{n}" in MEASURED]


@pytest.mark.parametrize("name", zoo_params())
def test_the_estimate_of_each_zoo_model_is_within_3_percent_of_its_measurement(name, converted):
    result = arm_cost.estimate(converted(name))
    assert result.complete, result.unestimated
    assert result.instructions == pytest.approx(measured_total(f"zoo_{name}"), rel=0.03)


@pytest.mark.parametrize("measured, name, change", [
    pytest.param("fmnist_ResNet20DWRLCE", "ResNet20DWRLCE", {"channels": 1}),
    pytest.param("fmnist_ResNet20", "ResNet20", {"channels": 1}, marks=pytest.mark.slow),
    pytest.param("fmnist_ResNet20DWR", "ResNet20DWR", {"channels": 1}, marks=pytest.mark.slow),
    pytest.param("pad_ResNet20", "ResNet20", {"shortcut": "pad"}),
    pytest.param("pad_ResNet20DWR", "ResNet20DWR", {"shortcut": "pad"}, marks=pytest.mark.slow)])
def test_the_estimate_at_the_shipped_shape_and_with_pad_shortcuts_is_within_3_percent(measured, name, change):
    """The ``fmnist`` rows are the shipped weights' 32x32x1 input, the ``pad`` rows zero-padded shortcuts."""
    spec = zoo.get_card(name).spec
    result = arm_cost.estimate_spec(spec.replace(shortcut=change.get("shortcut", spec.shortcut)), channels=change.get("channels", 3))
    assert result.complete and result.instructions == pytest.approx(measured_total(measured), rel=0.03)


def pair_params():
    pairs = [(zoo.get_card(n).source["reshaped_from"], n) for n in zoo.list_models() if zoo.get_card(n).source.get("reshaped_from")]
    return [pytest.param(original, reshaped, id=reshaped, marks=() if reshaped in CIFAR else pytest.mark.slow)
            for original, reshaped in pairs if f"zoo_{reshaped}" in MEASURED]


@pytest.mark.parametrize("original, reshaped", pair_params())
def test_each_reshaped_over_original_ratio_is_within_0_02_of_the_measured_one(original, reshaped, converted):
    measured = measured_total(f"zoo_{reshaped}") / measured_total(f"zoo_{original}")
    ratio = arm_cost.estimate(converted(reshaped)).instructions / arm_cost.estimate(converted(original)).instructions
    assert abs(ratio - measured) <= 0.02, (ratio, measured)


def test_the_enum_names_are_lces_schema():
    from larq_compute_engine.mlir.python import tflite_schema

    ops = {v: k for k, v in vars(tflite_schema.BuiltinOperator).items() if not k.startswith("_")}
    types = {v: k for k, v in vars(tflite_schema.TensorType).items() if not k.startswith("_")}
    assert flatbuffer.BUILTIN_OPS == ops and flatbuffer.TENSOR_TYPES == types
    options = {v: k for k, v in vars(tflite_schema.BuiltinOptions).items() if not k.startswith("_")}
    for code, (table, fields) in flatbuffer.BUILTIN_OPTIONS.items():
        assert options[code] == table
        for key, (index, _, _) in fields.items():
            camel = {"filter_w": "FilterWidth", "filter_h": "FilterHeight", "dilation_w": "DilationWFactor",
                     "dilation_h": "DilationHFactor"}.get(key) or "".join(part.title() for part in key.split("_")).replace("StrideW", "StrideW")
            source = inspect.getsource(getattr(getattr(tflite_schema, table), camel))
            assert f"self._tab.Offset({4 + 2 * index})" in source, f"{table}.{key}"


# --- where the estimate is reported ---------------------------------------------------------


def run_cli(*args):
    from click.testing import CliRunner

    from dwr_larq.cli.main import main

    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_summary_reports_the_estimate_and_each_op(converted):
    result = run_cli("summary", "ResNet20DWR", "--json", "--layers")
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    expected = arm_cost.estimate(converted("ResNet20DWR"))
    assert figures["arm_instructions"] == round(expected.instructions) and figures["arm_unestimated_ops"] == []
    assert [op["op"] for op in figures["arm_ops"]] == [op.name for op in flatbuffer.list_operators(converted("ResNet20DWR"))]
    assert sum(op["arm_instructions"] for op in figures["arm_ops"]) == pytest.approx(figures["arm_instructions"], abs=len(figures["arm_ops"]))


def test_summary_layers_shows_where_the_instructions_go(converted):
    result = run_cli("summary", "ResNet20DWR", "--layers", "--no-arm")
    assert result.exit_code == 0 and "ARM estimate by op type" not in result.output
    result = run_cli("summary", "ResNet20DWR", "--layers")
    assert result.exit_code == 0, result.output
    by_type = arm_cost.estimate(converted("ResNet20DWR")).by_op_type()
    lines = result.output.split("ARM estimate by op type", 1)[1].splitlines()
    shown = [line.split()[0] for line in lines[1:len(by_type) + 1]]
    assert shown == list(by_type)  # largest first
    first = lines[1].split()
    assert first[3] == f"{by_type[shown[0]]['share']:.1%}" and first[4] == "#" * round(by_type[shown[0]]["share"] * 40)
    last_op = [line for line in result.output.splitlines() if line.strip().startswith(str(len(arm_cost.estimate(converted("ResNet20DWR")).ops) - 1) + " ")]
    assert last_op and last_op[0].split()[-1] == "100.0%"  # the running share ends at the whole


def test_benchmark_rows_carry_the_estimate_beside_the_timings(tmp_path):
    from benchmark_helpers import write_tiny_card

    card = write_tiny_card(tmp_path)
    out = tmp_path / "bench.json"
    result = run_cli("benchmark", str(card), "--runs", "1", "--warmup", "1", "--cache-dir", str(tmp_path / "cache"), "--json", str(out))
    assert result.exit_code == 0, result.output
    (row,) = json.loads(out.read_text())["rows"]
    assert row["arm_instructions"] == round(arm_cost.estimate(Path(row["tflite"]).read_bytes()).instructions) > 0
    assert "ARM instr. (est.)" in result.output and "not measured here" in result.output


def test_a_model_that_does_not_convert_has_no_arm_budget_and_says_why(monkeypatch, tmp_path):
    from dwr_larq.deploy import convert

    def refuse(model):
        raise RuntimeError("converter said no")

    from dwr_larq.reshaping import measure_arm

    measure_arm.cache_clear()  # estimates are kept per spec
    monkeypatch.setattr(convert, "to_flatbuffer", refuse)
    result = run_cli("reshape", "ResNet20", "--budget", "arm", "--out", str(tmp_path / "card.json"))
    assert result.exit_code == 1
    assert "does not convert with LCE, so it has no ARM estimate: RuntimeError: converter said no" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "card.json").exists()


# --- the converted graphs of the cheaper layers ---------------------------------------------


def test_channel_align_slices_only_its_depthwise_branch(converted):
    spec = zoo.get_card("ResNet18CIFARDWR").spec
    slices = [op for op in flatbuffer.list_operators(converted("ResNet18CIFARDWR")) if op.name == "STRIDED_SLICE"]
    assert [(op.inputs[0].shape[-1], op.outputs[0].shape[-1]) for op in slices] == [(spec.stem.width, spec.widths[0] - spec.stem.width)]


@pytest.mark.parametrize("widths, slices", [((16, 32, 64), []), ((16, 40), [(16, 8)])], ids=["doubling", "not-a-multiple"])
def test_repeat_channels_leaves_no_full_size_slice(widths, slices):
    """Doubling is two whole copies (no slice); 16 -> 40 slices 8 of the 16 input channels, not 40 of 48."""
    from dwr_larq.deploy.convert import to_flatbuffer
    from dwr_larq.models.builder import build
    from dwr_larq.models.spec import BackboneSpec, StemSpec

    spec = BackboneSpec(block="reactnet_a", depths=[1] * len(widths), widths=widths, strides=[1] + [2] * (len(widths) - 1),
                        stem=StemSpec(width=16), input_size=16)
    ops = flatbuffer.list_operators(to_flatbuffer(build(spec, num_classes=10)))
    cut = [(op.inputs[0].shape[-1], op.outputs[0].shape[-1]) for op in ops if op.name == "STRIDED_SLICE"]
    assert cut == slices


@pytest.mark.slow
@pytest.mark.parametrize("name, whatif, measured", [("BiRealResNet18", "ref_BiReal_pad_shortcuts", 111970736),
                                                    ("ResNet18DWR", "c_pad_shortcuts", 113460093)])
def test_the_pad_shortcut_estimate_matches_its_what_if_measurement(name, whatif, measured):
    """shared/arm-costs/whatif.json measured both ResNet-18s with avg pool + zero-padded shortcuts."""
    result = arm_cost.estimate_spec(zoo.get_card(name).spec.replace(shortcut="pad"))
    assert result.complete and "PAD" in [op.op for op in result.ops]
    assert result.instructions == pytest.approx(measured, rel=0.05)


# --- the LCE-tuned cards ------------------------------------------------------------------

TUNED = [n for n in zoo.list_models() if zoo.get_card(n).source.get("kind") == "dwr-lce"]


@pytest.mark.parametrize("name", [pytest.param(n, marks=() if n in CIFAR else pytest.mark.slow) for n in TUNED])
def test_each_tuned_card_is_at_most_0_90x_on_arm_at_the_originals_binary_macs_or_says_why(name, converted):
    from dwr_larq.models import costs

    card = zoo.get_card(name)
    original = zoo.get_card(card.source["reshaped_from"])
    assert all(w % card.source["divisor"] == 0 for w in card.spec.widths)
    tuned, base = costs.measure_spec(card.spec), costs.measure_spec(original.spec)
    assert abs(tuned.binary_macs / base.binary_macs - 1) <= 0.02
    ratio = arm_cost.estimate(converted(name)).instructions / arm_cost.estimate(converted(original.name)).instructions
    assert ratio <= 0.90 or ("blocker" in card.source and ratio < 1)
    assert card.figures["arm_vs_source"] == pytest.approx(ratio, abs=1e-3)  # the card records what it is


EQUAL_COST = [n for n in zoo.list_models() if zoo.get_card(n).source.get("kind") == "equal-cost"]


@pytest.mark.parametrize("name", [pytest.param(n, marks=() if n in CIFAR else pytest.mark.slow) for n in EQUAL_COST])
def test_each_equal_cost_card_is_within_its_tolerance_of_its_matched_cards_arm_estimate(name, converted):
    card = zoo.get_card(name)
    ratio = arm_cost.estimate(converted(name)).instructions / arm_cost.estimate(converted(card.source["matched_to"])).instructions
    assert abs(ratio - 1) <= card.source["tolerance"]
    assert card.figures["arm_vs_source"] == pytest.approx(ratio, abs=1e-3)  # the card records what it is


def test_the_readme_arm_table_shows_the_chosen_columns(tmp_path):
    from dwr_larq.deploy import report

    row = {"model": "M", "threads": 1, "latency_median_ms": 9.0, "latency_p90_ms": 9.5, "binary_macs": 10**9,
           "activations": 10**6, "peak_memory_mb": 1.0, "tflite_bytes": 2**20, "conversion_seconds": 1.0,
           "arm_instructions": 123_000_000, "arm_unestimated_ops": ["TANH"]}
    bench = tmp_path / "b.json"
    report.write_json(bench, [row], [], {"arm_estimate": arm_cost.DESCRIPTION})
    readme = tmp_path / "README.md"
    readme.write_text("a\n<!-- arm-table:start -->\nold\n<!-- arm-table:end -->\nb\n")
    script = [sys.executable, str(Path(__file__).parent.parent.parent / "scripts" / "benchmark_table.py"), str(bench),
              "--readme", str(readme), "--section", "arm-table"]
    subprocess.run(script + ["--columns", "model,binary MACs,ARM instr. (est.)"], check=True, capture_output=True, timeout=120)
    text = readme.read_text()
    assert "| model | binary MACs | ARM instr. (est.) |\n|---|---|---|\n| M | 1G | 123M+? |" in text
    assert "median ms" not in text and "old" not in text and text.startswith("a\n") and text.endswith("b\n")
    failed = subprocess.run(script + ["--columns", "model,speed"], capture_output=True, text=True, timeout=120)
    assert failed.returncode == 1 and "unknown column(s) 'speed'" in failed.stderr and "Traceback" not in failed.stderr


def test_match_budget_by_arm_lands_within_tolerance_of_the_estimate():
    from dwr_larq import reshaping
    from dwr_larq.reshaping import measure_arm
    from dwr_larq.models.spec import BackboneSpec, StemSpec

    reference = BackboneSpec(block="bireal", depths=[1, 1], widths=[32, 64], strides=[1, 2], stem=StemSpec(width=32), input_size=16)
    wider = reference.replace(widths=(32, 96))
    assert measure_arm(wider) / measure_arm(reference) > 1.1
    matched = reshaping.match_budget(wider, reference, by="arm", tolerance=0.08, divisor=32)
    assert all(w % 32 == 0 for w in matched.widths)
    assert abs(measure_arm(matched) / measure_arm(reference) - 1) <= 0.08
