"""Flatbuffers are checked before LCE's interpreter sees them: random bytes and files cut
short are one ``ValueError`` naming the file, in evaluate, benchmark and the timers, and
never a crash of the process (LCE's interpreter reads past the end of a truncated file)."""

import inspect
import json
import os
import struct
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from dwr_larq.cli.main import main
from dwr_larq.deploy import benchmark, convert, flatbuffer, remote, timer
from dwr_larq.training import evaluate

from benchmark_helpers import write_tiny_card

NOT_VALID = "not a valid TFLite flatbuffer"


@pytest.fixture(scope="module")
def tiny_bytes(tmp_path_factory):
    card = write_tiny_card(tmp_path_factory.mktemp("cards"))
    prepared = benchmark.prepare(benchmark.resolve(str(card)), None, tmp_path_factory.mktemp("cache"))
    return prepared.path.read_bytes()


def cuts(data: bytes) -> dict:
    """The truncations the brief names: half, 90 %, all but 16 bytes (and all but one)."""
    return {"half": len(data) // 2, "90%": int(len(data) * 0.9), "minus 16": len(data) - 16, "minus 1": len(data) - 1}


def random_bytes(size: int, identifier: bool) -> bytes:
    data = bytearray(np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes())
    if identifier:  # gets past the identifier check, into the walk
        data[4:8] = flatbuffer.TFLITE_IDENTIFIER
    return bytes(data)


def test_a_converted_model_passes_whole(tiny_bytes):
    assert flatbuffer.check_flatbuffer(tiny_bytes, "tiny.tflite") == tiny_bytes


@pytest.mark.parametrize("identifier", [False, True], ids=["random", "random-with-TFL3"])
@pytest.mark.parametrize("size", [0, 7, 64, 5000])
def test_random_bytes_are_refused_naming_the_file(size, identifier, tmp_path):
    path = tmp_path / "noise.tflite"
    path.write_bytes(random_bytes(size, identifier and size >= 8))
    with pytest.raises(flatbuffer.FlatbufferError, match=f"^{path}: {NOT_VALID} "):
        flatbuffer.read_flatbuffer(path)


@pytest.mark.parametrize("cut", ["half", "90%", "minus 16", "minus 1"])
def test_a_truncated_model_is_refused_naming_the_file(cut, tiny_bytes, tmp_path):
    path = tmp_path / "cut.tflite"
    path.write_bytes(tiny_bytes[: cuts(tiny_bytes)[cut]])
    with pytest.raises(flatbuffer.FlatbufferError, match=f"^{path}: {NOT_VALID} .*outside the {path.stat().st_size}-byte file"):
        flatbuffer.read_flatbuffer(path)


def test_truncated_models_never_reach_the_interpreter(tiny_bytes, tmp_path):
    """In a child process, since without the check LCE's interpreter dies of SIGSEGV on these."""
    for name, cut in cuts(tiny_bytes).items():
        (tmp_path / f"{cut}.tflite").write_bytes(tiny_bytes[:cut])
    probe = (
        "import sys\n"
        "from dwr_larq.deploy.convert import lite_interpreter\n"
        "for path in sys.argv[1:]:\n"
        "    try:\n"
        "        lite_interpreter(open(path, 'rb').read(), path=path)\n"
        "        print('ran', path)\n"
        "    except ValueError as error:\n"
        "        print('ValueError', error)\n"
    )
    paths = sorted(str(p) for p in tmp_path.glob("*.tflite"))
    result = subprocess.run([sys.executable, "-c", probe, *paths], capture_output=True, text=True)
    assert result.returncode == 0, f"exit status {result.returncode}: {result.stderr[-500:]}"
    lines = result.stdout.splitlines()
    assert len(lines) == 4 and all(line.startswith(f"ValueError {p}: {NOT_VALID}") for line, p in zip(lines, paths))


def _field_position(data: bytes, get_table, slot_name: str, table_name: str) -> int:
    """Where a scalar field of one table of ``data`` sits, found with LCE's generated reader."""
    from larq_compute_engine.mlir.python import tflite_schema

    table = get_table(tflite_schema.Model.GetRootAsModel(bytearray(data), 0))
    offset = table._tab.Offset(4 + 2 * flatbuffer.SCALARS[table_name][slot_name][0])
    assert offset, "the field holds its default, so it is not stored: pick another table"
    return table._tab.Pos + offset


@pytest.mark.parametrize(
    "table_name, field, get_table, message",
    [
        ("Tensor", "Buffer", lambda m: m.Subgraphs(0).Tensors(1), r"Tensors\[1\] names buffer 4000000 of \d+"),
        ("Operator", "OpcodeIndex", lambda m: m.Subgraphs(0).Operators(1), r"Operators\[1\] names operator code 4000000 of \d+"),
    ],
)
def test_an_index_past_its_table_is_refused(table_name, field, get_table, message, tiny_bytes):
    data = bytearray(tiny_bytes)
    struct.pack_into("<I", data, _field_position(tiny_bytes, get_table, field, table_name), 4_000_000)
    with pytest.raises(flatbuffer.FlatbufferError, match=message):
        flatbuffer.check_flatbuffer(bytes(data), "edited.tflite")


def test_the_schema_field_indices_are_tflites():
    """The check's field table against LCE's generated schema: field i is read at vtable slot 4 + 2 i."""
    from larq_compute_engine.mlir.python import tflite_schema

    fields = [(t, f, spec[0]) for t, table in flatbuffer.SCHEMA.items() for f, spec in table.items()]
    fields += [(t, f, spec[0]) for t, table in flatbuffer.SCALARS.items() for f, spec in table.items()]
    for table, field, index in fields:
        source = inspect.getsource(getattr(getattr(tflite_schema, table), field))
        assert f"self._tab.Offset({4 + 2 * index})" in source, f"{table}.{field}"
    for table, table_fields in flatbuffer.SCHEMA.items():
        for field, (_, kind, argument) in table_fields.items():
            if kind == flatbuffer.UNION:
                type_index = argument[0]
                source = inspect.getsource(getattr(getattr(tflite_schema, table), f"{field}Type"))
                assert f"self._tab.Offset({4 + 2 * type_index})" in source, f"{table}.{field}Type"


# --- every reader goes through the check ------------------------------------------------------


@pytest.mark.parametrize("kind", ["random", "truncated"])
def test_evaluate_refuses_a_bad_flatbuffer_naming_it(kind, tiny_bytes, tmp_path):
    path = tmp_path / f"{kind}.tflite"
    path.write_bytes(random_bytes(300, False) if kind == "random" else tiny_bytes[: len(tiny_bytes) // 2])
    with pytest.raises(ValueError, match=f"{path}: {NOT_VALID}"):
        evaluate.evaluate(path, "digits")


def test_the_evaluate_command_on_random_bytes_is_one_line(tmp_path):
    path = tmp_path / "noise.tflite"
    path.write_bytes(random_bytes(300, False))
    result = CliRunner().invoke(main, ["evaluate", str(path), "--dataset", "digits"], catch_exceptions=False)
    assert result.exit_code == 1 and f"Error: {path}: {NOT_VALID}" in result.output


def test_the_evaluate_command_on_a_truncated_file_does_not_crash(tiny_bytes, tmp_path):
    path = tmp_path / "cut.tflite"
    path.write_bytes(tiny_bytes[:-16])  # without the check, LCE's interpreter dies of SIGSEGV on this one
    command = [sys.executable, "-m", "dwr_larq.cli", "evaluate", str(path), "--dataset", "digits"]
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 1, f"exit status {result.returncode}"
    assert f"Error: {path}: {NOT_VALID}" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("make_timer", [timer.LocalTimer, lambda: remote.RemoteTimer("pi@nowhere")], ids=["local", "remote"])
def test_timers_refuse_a_truncated_file_before_running_anything(make_timer, tiny_bytes, tmp_path, monkeypatch):
    path = tmp_path / "cut.tflite"
    path.write_bytes(tiny_bytes[:-16])

    def no_process(*args, **kwargs):
        raise AssertionError("nothing should run for a bad file")

    monkeypatch.setattr(subprocess, "run", no_process)
    with pytest.raises(flatbuffer.FlatbufferError, match=f"{path}: {NOT_VALID}"):
        make_timer().measure(path, 1, 1, 1)


def test_convert_checks_what_the_converter_wrote(tiny_bytes, tmp_path, monkeypatch):
    monkeypatch.setattr(convert, "to_flatbuffer", lambda model: tiny_bytes[:-16])
    target = tmp_path / "model.tflite"
    with pytest.raises(flatbuffer.FlatbufferError, match=f"{target}: {NOT_VALID}"):
        convert.convert(object(), target)
    assert not target.exists()


def test_the_benchmark_command_says_a_truncated_file_is_not_a_flatbuffer(tiny_bytes, tmp_path):
    path = tmp_path / "cut.tflite"
    path.write_bytes(tiny_bytes[: int(len(tiny_bytes) * 0.9)])
    out = tmp_path / "rows.json"
    result = CliRunner().invoke(main, ["benchmark", str(path), "--runs", "1", "--json", str(out)], catch_exceptions=False)
    assert result.exit_code == 1
    assert f"error: {path}: {NOT_VALID}" in result.output and "conversion failed" not in result.output
    failures = json.loads(out.read_text())["failures"]
    assert [f["item"] for f in failures] == [str(path)] and NOT_VALID in failures[0]["message"]
