"""`dwr-larq benchmark` on this host: items, cache, timing, outputs, bad input, partial runs.

Models are tiny (8x8 to 32x32 inputs) and runs few: these tests check what the tool
does, never how fast a model is.
"""

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner

from dwr_larq.deploy import benchmark, convert, flatbuffer, timer
from dwr_larq.models import costs
from dwr_larq import zoo
from dwr_larq.cli.main import main

from benchmark_helpers import write_tiny_card

SCRIPTS = Path(__file__).parents[2] / "scripts"


@pytest.fixture(scope="module")
def cards(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cards")
    return write_tiny_card(folder, "TinyReAct"), write_tiny_card(folder, "TinyReActB")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("tflite-cache")


@pytest.fixture(scope="module")
def tiny_tflite(cards, cache_dir):
    return benchmark.prepare(benchmark.resolve(str(cards[0])), None, cache_dir).path


def run(*args):
    return CliRunner().invoke(main, ["benchmark", *map(str, args)], catch_exceptions=False)


# --- items and options -------------------------------------------------------------


def test_items_resolve_to_zoo_card_baseline_and_file(cards, tiny_tflite):
    kinds = [(s.name, s.kind) for s in benchmark.resolve_all(["ResNet18DWR", str(cards[0]), "lqz:QuickNet", str(tiny_tflite)])]
    assert kinds == [("ResNet18DWR", "zoo"), ("TinyReAct", "card"), ("lqz:QuickNet", "larq-zoo"), (tiny_tflite.stem, "tflite")]


@pytest.mark.parametrize(
    "item, message",
    [
        ("lqz:QuickNett", "unknown larq-zoo baseline 'lqz:QuickNett'; known: lqz:QuickNet, lqz:QuickNetSmall"),
        ("ResNet18DWRR", "did you mean ResNet18DWR"),
        ("missing.tflite", "missing.tflite: no such file"),
        ("missing.json", "missing.json: no such file"),
    ],
)
def test_unknown_items_fail_before_any_work_with_one_message(item, message):
    result = run("ResNet20DWR", item)
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output
    assert "preparing" not in result.output


def test_the_same_model_twice_is_refused():
    result = run("ResNet20DWR", "ResNet20DWR")
    assert result.exit_code == 1 and "named twice: ResNet20DWR" in result.output


@pytest.mark.parametrize(
    "text, expected", [("1", (1,)), ("1,2", (1, 2)), (" 2 , 1 ,2", (2, 1))]
)
def test_thread_counts_parse(text, expected):
    assert benchmark.parse_threads(text) == expected


@pytest.mark.parametrize("text, message", [("0", "at least 1, got 0"), ("1,-2", "at least 1, got -2"), ("one", "comma-separated"), ("1,,2", "comma-separated")])
def test_bad_thread_counts_give_one_message(text, message):
    result = run("ResNet20DWR", "--threads", text)
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(
    "where, message",
    [
        ("no/rows.json", "output folder '{tmp}/no' does not exist"),
        ("notes.txt/rows.json", "'{tmp}/notes.txt/rows.json': '{tmp}/notes.txt' is a file, not a folder"),
    ],
)
def test_an_unwritable_output_fails_before_converting(where, message, tmp_path):
    (tmp_path / "notes.txt").write_text("a file where a folder should be")
    result = run("ResNet20DWR", "--json", tmp_path / where)
    assert result.exit_code == 1 and message.format(tmp=tmp_path) in result.output and "preparing" not in result.output


def test_an_unknown_reference_is_refused():
    result = run("ResNet20DWR", "--reference", "ResNet20")
    assert result.exit_code == 1 and "--reference 'ResNet20' is not one of the models" in result.output


# --- flatbuffers ----------------------------------------------------------------------


def test_a_file_that_is_not_a_flatbuffer_is_named(tmp_path):
    path = tmp_path / "notes.tflite"
    path.write_text("these are my notes, not a model")
    with pytest.raises(flatbuffer.FlatbufferError, match="notes.tflite: not a valid TFLite flatbuffer \\(no 'TFL3' identifier"):
        flatbuffer.read_lce_flatbuffer(path)


def test_a_truncated_flatbuffer_is_corrupt(tiny_tflite, tmp_path):
    path = tmp_path / "truncated.tflite"
    path.write_bytes(tiny_tflite.read_bytes()[:200])
    with pytest.raises(flatbuffer.FlatbufferError, match="truncated.tflite: not a valid TFLite flatbuffer"):
        flatbuffer.read_lce_flatbuffer(path)


def test_a_plain_tflite_model_has_no_lce_ops(tmp_path):
    model = tf.keras.Sequential([tf.keras.Input((8, 8, 3)), tf.keras.layers.Conv2D(4, 3), tf.keras.layers.GlobalAveragePooling2D()])
    path = tmp_path / "float.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    with pytest.raises(flatbuffer.FlatbufferError, match=r"float.tflite: has no LCE ops \(ops: CONV_2D, MEAN\)"):
        flatbuffer.read_lce_flatbuffer(path)


def test_flatbuffer_figures_match_the_keras_metrics():
    model = zoo.ResNet20DWR()
    expected = costs.measure(model)
    figures = flatbuffer.binary_conv_figures(convert.to_flatbuffer(model))
    packed = figures.pop("packed_binary_macs")
    assert figures == {
        "binary_convs": expected.binary_convs,
        "binary_macs": expected.binary_macs,
        "activations": expected.activations,
        "input_shape": [32, 32, 3],
    }
    # Widths 16, 78, 134 are not multiples of 32: LCE computes whole 32-bit words.
    words = {16: 1, 78: 3, 134: 5}
    expected_packed = sum(
        int(np.prod(layer.output_shape[1:])) * 9 * words[layer.input_shape[-1]] * 32 for layer in costs.binary_conv_layers(model)
    )
    assert packed == expected_packed > expected.binary_macs


# --- conversion cache and timing ------------------------------------------------------------


def test_conversion_is_cached_by_model_and_input_size(cards, tmp_path, monkeypatch):
    source = benchmark.resolve(str(cards[0]))
    first = benchmark.prepare(source, None, tmp_path)
    assert not first.cached and first.conversion_seconds > 0 and first.input_size == 8

    def no_conversion(model):
        raise AssertionError("the cached flatbuffer should have been used")

    monkeypatch.setattr(convert, "to_flatbuffer", no_conversion)
    again = benchmark.prepare(source, None, tmp_path)
    assert again.cached and again.path == first.path and again.conversion_seconds == first.conversion_seconds
    assert again.figures == first.figures and again.figures["binary_macs"] > 0
    with pytest.raises(AssertionError, match="cached flatbuffer"):
        benchmark.prepare(source, 16, tmp_path)  # another input size is another flatbuffer


def test_a_damaged_cached_flatbuffer_is_converted_again(cards, tmp_path):
    source = benchmark.resolve(str(cards[0]))
    first = benchmark.prepare(source, None, tmp_path)
    whole = first.path.read_bytes()
    first.path.write_bytes(whole[: len(whole) // 2])
    again = benchmark.prepare(source, None, tmp_path)
    assert not again.cached and again.path == first.path
    assert len(flatbuffer.read_flatbuffer(again.path)) == len(whole)  # whole again (random weights: other bytes)


def test_the_cache_key_follows_the_spec(cards):
    source = benchmark.resolve(str(cards[0]))
    wider = benchmark.Source(source.item, source.name, source.kind, card=source.card.__class__(
        **{**source.card.__dict__, "spec": source.card.spec.replace(widths=(32, 96))}))
    assert benchmark.cache_key(source, 8) != benchmark.cache_key(wider, 8)
    assert benchmark.cache_key(source, 8) != benchmark.cache_key(source, 16)
    assert benchmark.cache_key(source, 8) == benchmark.cache_key(benchmark.resolve(str(cards[0])), 8)


@pytest.mark.parametrize("kernel", ["bgemm", "indirect", "reference"])
def test_local_timer_times_every_run(tiny_tflite, kernel):
    latency = timer.LocalTimer(kernel).measure(tiny_tflite, threads=1, runs=6, warmup=2)
    assert latency.runs == len(latency.times_ms) == 6
    assert 0 < latency.min_ms <= latency.median_ms <= latency.p90_ms <= max(latency.times_ms)
    assert latency.peak_memory_bytes > 0 and latency.memory_method in ("VmHWM growth", "ru_maxrss growth")


def test_the_timing_worker_does_not_import_tensorflow(tiny_tflite):
    probe = (
        "import runpy, sys\n"
        "sys.argv = ['timing', *sys.argv[1:]]\n"
        "try:\n"
        "    runpy.run_module('dwr_larq.deploy.timing', run_name='__main__', alter_sys=True)\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('tensorflow' in sys.modules, file=sys.stderr)\n"
    )
    command = [sys.executable, "-c", probe, str(tiny_tflite), "--runs", "1"]
    result = subprocess.run(command, capture_output=True, text=True)
    assert len(json.loads(result.stdout)["times_ms"]) == 1
    assert result.stderr.strip().splitlines()[-1] == "False"


@pytest.mark.parametrize(
    "worker, message",
    [
        ('echo "RuntimeError: Node number 0 (CONV_2D) failed to prepare." >&2; exit 1',
         "LCE interpreter failed: RuntimeError: Node number 0 (CONV_2D) failed to prepare."),
        ("kill -SEGV $$", "LCE interpreter failed: the interpreter crashed (signal 11)"),
    ],
)
def test_a_worker_failure_is_a_benchmark_error_naming_the_file(worker, message, tiny_tflite, tmp_path):
    python = tmp_path / "python"
    python.write_text(f"#!/bin/sh\n{worker}\n")
    python.chmod(0o755)
    with pytest.raises(timer.BenchmarkError, match=f"^{tiny_tflite}: {re.escape(message)}$"):
        timer.LocalTimer(python=str(python)).measure(tiny_tflite, 1, 1, 1)


def test_rounds_pool_their_runs():
    a = timer.Latency.from_times([1.0, 2.0, 3.0], 100, "VmHWM growth")
    b = timer.Latency.from_times([4.0, 5.0], 300, "VmHWM growth")
    pooled = a.merge(b)
    assert pooled.runs == 5 and pooled.median_ms == 3.0 and pooled.peak_memory_bytes == 300
    assert pooled.p90_ms == pytest.approx(np.percentile([1, 2, 3, 4, 5], 90))


# --- the command end to end -----------------------------------------------------------------


def test_benchmark_writes_every_format(cards, tiny_tflite, cache_dir, tmp_path):
    out = {ext: tmp_path / f"rows.{ext}" for ext in ("json", "csv", "md", "png")}
    result = run(cards[0], "lqz:QuickNetSmall", tiny_tflite, "--input-size", 32, "--threads", "1,2", "--runs", 3,
                 "--warmup", 1, "--rounds", 2, "--reference", "TinyReAct", "--cache-dir", cache_dir,
                 "--json", out["json"], "--csv", out["csv"], "--markdown", out["md"], "--plot", out["png"])
    assert result.exit_code == 0, result.output
    data = json.loads(out["json"].read_text())
    rows = data["rows"]
    assert [(r["model"], r["threads"]) for r in rows] == [
        (name, n) for name in ("TinyReAct", "lqz:QuickNetSmall", tiny_tflite.stem) for n in (1, 2)
    ]
    assert all(r["runs"] == 6 for r in rows)  # 2 rounds x 3 runs, pooled
    assert all(r["latency_median_ms"] > 0 and r["peak_memory_mb"] > 0 and r["tflite_bytes"] > 0 for r in rows)
    by_name = {r["model"]: r for r in rows if r["threads"] == 1}
    assert by_name["TinyReAct"]["input_size"] == 32 and by_name[tiny_tflite.stem]["input_size"] == 8
    assert by_name["TinyReAct"]["ratio"] == 1.0
    assert by_name["lqz:QuickNetSmall"]["binary_macs"] > 0 and by_name["lqz:QuickNetSmall"]["kind"] == "larq-zoo"
    assert by_name["TinyReAct"]["packed_binary_macs"] == by_name["TinyReAct"]["binary_macs"]  # widths 32 and 64
    assert by_name[tiny_tflite.stem]["conversion_seconds"] is None and by_name[tiny_tflite.stem]["binary_macs"] > 0
    assert data["meta"]["rounds"] == 2 and data["meta"]["kernel"] == "bgemm" and data["failures"] == []
    with open(out["csv"]) as handle:
        assert [r["model"] for r in csv.DictReader(handle)] == [r["model"] for r in rows]
    markdown = out["md"].read_text()
    assert markdown.startswith("| model | threads | median ms |") and markdown.count("| lqz:QuickNetSmall |") == 2
    assert out["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "lqz:QuickNetSmall" in result.stdout and "x ref" in result.stdout


def test_a_failing_item_keeps_the_rows_that_finished(cards, cache_dir, tmp_path):
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(b"\x00" * 4 + b"TFL3" + b"\x00" * 32)
    out = tmp_path / "rows.json"
    result = run(cards[0], broken, "--runs", 2, "--cache-dir", cache_dir, "--json", out)
    assert result.exit_code == 1
    assert f"{broken}: not a valid TFLite flatbuffer" in result.output and "Traceback" not in result.output
    data = json.loads(out.read_text())
    assert [r["model"] for r in data["rows"]] == ["TinyReAct"]
    assert data["failures"][0]["item"] == str(broken)


def test_ctrl_c_keeps_the_rows_that_finished(cards, cache_dir, tmp_path, monkeypatch):
    measure = timer.LocalTimer.measure
    calls = []

    def interrupted_after_one(self, *args, **kwargs):
        calls.append(args)
        if len(calls) > 1:
            raise KeyboardInterrupt
        return measure(self, *args, **kwargs)

    monkeypatch.setattr(timer.LocalTimer, "measure", interrupted_after_one)
    out, md = tmp_path / "rows.json", tmp_path / "rows.md"
    result = run(*cards, "--runs", 2, "--cache-dir", cache_dir, "--json", out, "--markdown", md)
    assert result.exit_code == 130
    assert "interrupted: keeping the 1 row(s)" in result.output
    assert [r["model"] for r in json.loads(out.read_text())["rows"]] == ["TinyReAct"]
    assert "TinyReActB" not in md.read_text()


# --- the README table -----------------------------------------------------------------------


def test_benchmark_table_rewrites_only_the_marked_section(cards, cache_dir, tmp_path):
    out = tmp_path / "rows.json"
    assert run(cards[0], "--runs", 2, "--cache-dir", cache_dir, "--json", out).exit_code == 0
    readme = tmp_path / "README.md"
    readme.write_text("# Title\n\nbefore\n<!-- benchmark-table:start -->\nold table\n<!-- benchmark-table:end -->\nafter\n")
    script = [sys.executable, str(SCRIPTS / "benchmark_table.py"), str(out), "--readme", str(readme)]
    check = subprocess.run(script + ["--check"], capture_output=True, text=True)
    assert check.returncode == 1 and "out of date" in check.stderr
    assert subprocess.run(script, capture_output=True, text=True).returncode == 0
    text = readme.read_text()
    assert text.startswith("# Title\n\nbefore\n<!-- benchmark-table:start -->\n| model | threads | median ms |")
    assert "| TinyReAct | 1 |" in text and "old table" not in text and text.endswith("<!-- benchmark-table:end -->\nafter\n")
    assert subprocess.run(script + ["--check"], capture_output=True, text=True).returncode == 0


def test_benchmark_table_needs_the_markers_and_a_benchmark_file(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("no markers\n")
    rows = tmp_path / "rows.json"
    rows.write_text(json.dumps({"meta": {}, "rows": [{"model": "x"}]}))
    result = subprocess.run([sys.executable, str(SCRIPTS / "benchmark_table.py"), str(rows), "--readme", str(readme)],
                            capture_output=True, text=True)
    assert result.returncode == 1 and "needs exactly one <!-- benchmark-table:start -->" in result.stderr
    readme.write_text("<!-- benchmark-table:start -->\n<!-- benchmark-table:end -->\n")
    result = subprocess.run([sys.executable, str(SCRIPTS / "benchmark_table.py"), str(rows), "--readme", str(readme)],
                            capture_output=True, text=True)
    assert result.returncode == 1 and "row 0 lacks activations, binary_macs" in result.stderr
    rows.write_text("[1, 2]")
    result = subprocess.run([sys.executable, str(SCRIPTS / "benchmark_table.py"), str(rows), "--readme", str(readme)],
                            capture_output=True, text=True)
    assert result.returncode == 1 and "not a dwr-larq benchmark file" in result.stderr
