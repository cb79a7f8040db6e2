"""The device path: parsing lce_benchmark_model's log, ssh/scp against a fake device, the shell script."""

import json
import re
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from dwr_larq.deploy import remote
from dwr_larq.cli.main import main

from benchmark_helpers import DATA, RECORDED, fake_device, write_tiny_card

SCRIPT = Path(__file__).parents[2] / "scripts" / "benchmark_rpi.sh"


def test_parse_current_format_reads_the_timed_runs_not_the_warmup():
    parsed = remote.parse_benchmark_output(RECORDED.read_text())
    assert parsed["stats"]["count"] == 21 and parsed["stats"]["median"] == 47519 and parsed["stats"]["avg"] == 47688.2
    assert parsed["timings"] == {"Init": 31284, "First inference": 61283, "Warmup (avg)": 48823.5, "Inference (avg)": 47688.2}
    assert parsed["memory"] == {"delta_init": 12.0859, "delta_overall": 19.6211, "peak": 24.7734}


def test_latency_from_current_format_uses_median_and_peak_memory():
    latency = remote.latency_from_output(RECORDED.read_text())
    assert latency.runs == 21
    assert latency.median_ms == pytest.approx(47.519) and latency.mean_ms == pytest.approx(47.6882)
    assert latency.min_ms == pytest.approx(47.013) and latency.p90_ms is None
    assert latency.peak_memory_bytes == int(24.7734 * 2**20)
    assert latency.memory_method == "lce_benchmark_model peak footprint"


def test_old_format_without_median_falls_back_to_the_mean():
    latency = remote.latency_from_output((DATA / "lce_benchmark_model_old_format.txt").read_text())
    assert latency.runs == 50
    assert latency.median_ms == latency.mean_ms == pytest.approx(2950.34)  # avg=2.95034e+06 us
    assert latency.peak_memory_bytes == int(46.0859 * 2**20)
    assert latency.memory_method == "lce_benchmark_model footprint delta"


def test_a_failed_run_quotes_the_tools_error():
    with pytest.raises(remote.ParseError, match="Benchmarking failed"):
        remote.parse_benchmark_output((DATA / "lce_benchmark_model_missing_graph.txt").read_text())
    with pytest.raises(remote.ParseError, match="no output"):
        remote.parse_benchmark_output("")


@pytest.mark.parametrize(
    "path, quoted",
    [("lce_benchmark_model", "lce_benchmark_model"), ("~/lce bench", "\"$HOME\"/'lce bench'"), ("/opt/x;rm", "'/opt/x;rm'")],
)
def test_remote_paths_are_quoted_but_keep_home(path, quoted):
    assert remote.remote_word(path) == quoted


@pytest.mark.parametrize("target", ["", "-oProxyCommand=x", "pi @host"])
def test_a_malformed_target_is_refused(target):
    with pytest.raises(ValueError, match="user@host"):
        remote.RemoteTimer(target)


@pytest.fixture(scope="module")
def tiny_card(tmp_path_factory):
    return write_tiny_card(tmp_path_factory.mktemp("cards"))


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("tflite-cache")


def benchmark(*args):
    return CliRunner().invoke(main, ["benchmark", *map(str, args)], catch_exceptions=False)


def test_remote_benchmark_copies_runs_and_parses(tiny_card, cache_dir, tmp_path, monkeypatch):
    device = fake_device(tmp_path, monkeypatch)
    remote_dir = device / "graphs"
    out = tmp_path / "rows.json"
    result = benchmark(tiny_card, "--remote", "pi@raspberrypi", "--remote-dir", remote_dir, "--threads", "1,2",
                       "--runs", 7, "--warmup", 2, "--cache-dir", cache_dir, "--json", out)
    assert result.exit_code == 0, result.stderr
    rows = json.loads(out.read_text())["rows"]
    assert [(r["model"], r["threads"]) for r in rows] == [("TinyReAct", 1), ("TinyReAct", 2)]
    assert all(r["device"] == "remote pi@raspberrypi (lce_benchmark_model)" for r in rows)
    assert rows[0]["latency_median_ms"] == pytest.approx(47.519) and rows[0]["latency_p90_ms"] is None
    assert rows[0]["binary_macs"] > 0 and rows[0]["peak_memory_mb"] == pytest.approx(24.77, abs=0.01)
    # The flatbuffer was copied once and benchmarked once per thread count with the options asked for.
    copied = list(remote_dir.glob("*.tflite"))
    assert len(copied) == 1 and copied[0].read_bytes() == Path(rows[0]["tflite"]).read_bytes()
    calls = (device / "benchmark.log").read_text().splitlines()
    assert calls == [f"--graph={copied[0]} --num_threads={n} --num_runs=7 --warmup_runs=2" for n in (1, 2)]
    assert "TinyReAct" in result.stdout and "47.5" in result.stdout


def test_the_kernel_choice_reaches_the_device(tiny_card, cache_dir, tmp_path, monkeypatch):
    device = fake_device(tmp_path, monkeypatch)
    out = tmp_path / "rows.json"
    result = benchmark(tiny_card, "--remote", "pi@raspberrypi", "--remote-dir", device / "graphs", "--kernel", "indirect",
                       "--cache-dir", cache_dir, "--json", out)
    assert result.exit_code == 0, result.stderr
    assert (device / "benchmark.log").read_text().rstrip().endswith("--warmup_runs=3 --use_indirect_bgemm=true")
    assert json.loads(out.read_text())["rows"][0]["kernel"] == "indirect"


def test_remote_dir_under_home_goes_through_scp_relative_paths(tiny_card, cache_dir, tmp_path, monkeypatch):
    device = fake_device(tmp_path, monkeypatch)
    result = benchmark(tiny_card, "--remote", "pi@raspberrypi", "--remote-dir", "~/bench", "--cache-dir", cache_dir,
                       "--lce-benchmark-binary", "lce_benchmark_model")
    assert result.exit_code == 0, result.stderr
    assert len(list((device / "home" / "bench").glob("*.tflite"))) == 1


def test_an_unreachable_device_gives_one_message(tiny_card, cache_dir, tmp_path, monkeypatch):
    fake_device(tmp_path, monkeypatch)
    result = benchmark(tiny_card, "--remote", "pi@unreachable", "--cache-dir", cache_dir)
    assert result.exit_code == 1
    assert "cannot reach pi@unreachable over ssh: ssh: connect to host unreachable port 22: Connection refused" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_a_device_without_the_binary_gives_one_message(tiny_card, cache_dir, tmp_path, monkeypatch):
    fake_device(tmp_path, monkeypatch, with_binary=False)
    result = benchmark(tiny_card, "--remote", "pi@raspberrypi", "--lce-benchmark-binary", "~/lce_benchmark_model",
                       "--cache-dir", cache_dir)
    assert result.exit_code == 1
    assert "~/lce_benchmark_model not found on pi@raspberrypi" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_rounds_are_refused_for_a_remote_device(tiny_card):
    result = benchmark(tiny_card, "--remote", "pi@raspberrypi", "--rounds", 2)
    assert result.exit_code != 0 and "--rounds" in result.stderr


@pytest.fixture(scope="module")
def second_card(tmp_path_factory):
    return write_tiny_card(tmp_path_factory.mktemp("cards"), "TinyReActB")


def test_a_model_failing_on_the_device_is_a_failure_row_and_the_others_still_run(tiny_card, second_card, cache_dir,
                                                                                 tmp_path, monkeypatch):
    device = fake_device(tmp_path, monkeypatch, failing="TinyReActB")
    out = tmp_path / "rows.json"
    result = benchmark(second_card, tiny_card, "--remote", "pi@raspberrypi", "--remote-dir", device / "graphs",
                       "--threads", "1,2", "--cache-dir", cache_dir, "--json", out)
    assert result.exit_code == 1
    data = json.loads(out.read_text())
    assert [(r["model"], r["threads"]) for r in data["rows"]] == [("TinyReAct", 1), ("TinyReAct", 2)]
    assert [(f["item"], f["threads"]) for f in data["failures"]] == [(str(second_card), 1), (str(second_card), 2)]
    for failure in data["failures"]:
        graph = re.search(r"\S*TinyReActB-8-\w+\.tflite", failure["message"]).group(0)
        assert failure["message"] == (f"{graph} on pi@raspberrypi: no benchmark result in lce_benchmark_model output: "
                                      "Failed to allocate tensors!; Benchmarking failed.")
        assert f"error: {failure['message']}" in result.stderr
    assert "TinyReAct" in result.stdout and "Traceback" not in result.stdout + result.stderr


def run_script(*args):
    return subprocess.run(["bash", str(SCRIPT), *map(str, args)], capture_output=True, text=True)


@pytest.fixture
def tflite_file(tiny_card, cache_dir, tmp_path):
    from dwr_larq.deploy.benchmark import prepare, resolve

    prepared = prepare(resolve(str(tiny_card)), None, cache_dir)
    return prepared.path


def test_shell_script_prints_one_line_per_model_and_thread_count(tflite_file, tmp_path, monkeypatch):
    device = fake_device(tmp_path, monkeypatch)
    logs = tmp_path / "logs"
    result = run_script("-t", "1,2", "-r", 9, "-k", "indirect", "-d", device / "graphs", "-o", logs, "pi@raspberrypi", tflite_file)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].split("\t") == ["model", "threads", "runs", "median_ms", "avg_ms", "min_ms", "peak_mb"]
    assert [line.split("\t") for line in lines[1:]] == [
        [tflite_file.stem, str(n), "21", "47.52", "47.69", "47.01", "24.7734"] for n in (1, 2)
    ]
    assert len(list(logs.glob("*.log"))) == 2
    calls = (device / "benchmark.log").read_text().splitlines()
    assert calls == [f"--graph={device / 'graphs' / tflite_file.name} --num_threads={n} --num_runs=9 --warmup_runs=3 "
                     "--use_indirect_bgemm=true" for n in (1, 2)]


@pytest.mark.parametrize(
    "target, binary, message",
    [("pi@unreachable", "lce_benchmark_model", "cannot reach pi@unreachable"), ("pi@raspberrypi", "/opt/none", "/opt/none not found")],
)
def test_shell_script_device_errors(target, binary, message, tflite_file, tmp_path, monkeypatch):
    fake_device(tmp_path, monkeypatch)
    result = run_script("-b", binary, target, tflite_file)
    assert result.returncode == 1 and message in result.stderr


def test_shell_script_bad_input(tmp_path, monkeypatch):
    fake_device(tmp_path, monkeypatch)
    (tmp_path / "text.tflite").write_text("not a model at all")
    assert "no such file" in run_script("pi@raspberrypi", tmp_path / "missing.tflite").stderr
    assert "not a TFLite flatbuffer" in run_script("pi@raspberrypi", tmp_path / "text.tflite").stderr
    assert "thread counts must be integers >= 1" in run_script("-t", "0", "pi@raspberrypi", tmp_path / "text.tflite").stderr
    assert "-k must be bgemm, indirect or reference" in run_script("-k", "fast", "pi@raspberrypi", tmp_path / "text.tflite").stderr
    no_models = run_script("pi@raspberrypi")
    assert no_models.returncode == 2 and "USER@HOST MODEL.tflite..." in no_models.stderr
