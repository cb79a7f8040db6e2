"""One timer: benchmark, DWR's latency budget and evaluate all time
through ``dwr_larq.deploy.timer`` (a ``Timer``'s ``measure``, or ``time_flatbuffer`` for bytes)."""

import tempfile
from pathlib import Path

import pytest

from dwr_larq.deploy import benchmark, flatbuffer, timer
from dwr_larq import reshaping
from dwr_larq.models.spec import BackboneSpec
from dwr_larq.training import evaluate

from benchmark_helpers import write_tiny_card
from conftest import tiny_card

ANSWER = timer.Latency.from_times([4.0, 5.0, 6.0, 7.0], 1024, "recorded")  # median 5.5, min 4.0


@pytest.fixture(scope="module")
def tiny_tflite(tmp_path_factory):
    card = write_tiny_card(tmp_path_factory.mktemp("cards"))
    return benchmark.prepare(benchmark.resolve(str(card)), None, tmp_path_factory.mktemp("cache")).path


class RecordingTimer:
    """A ``Timer`` that runs nothing: it keeps what it was asked to time and answers ``ANSWER``."""

    device, kernel, supports_rounds = "nowhere", "bgemm", True

    def __init__(self):
        self.calls = []

    def check(self):
        pass

    def measure(self, path, threads, runs, warmup):
        self.calls.append({"flatbuffer": Path(path).read_bytes(), "threads": threads, "runs": runs, "warmup": warmup})
        return ANSWER


def _tiny_spec() -> BackboneSpec:
    return BackboneSpec.from_dict(tiny_card()["spec"])


def _benchmark_latency(tiny_tflite):
    plan = benchmark.Plan([benchmark.resolve(str(tiny_tflite))], runs=3, warmup=1)
    (row,) = benchmark.run(plan, timer.LocalTimer())
    return row.latency_median_ms


CALLERS = {
    "benchmark": _benchmark_latency,
    "budget": lambda tflite: reshaping.measure_latency(_tiny_spec(), runs=3),
    "evaluate": lambda tflite: evaluate.tflite_latency(tflite.read_bytes(), runs=3, warmup=1)["latency_ms"],
}


@pytest.mark.parametrize("caller", list(CALLERS))
def test_every_latency_is_the_local_timers(caller, tiny_tflite, monkeypatch):
    recorder = RecordingTimer()
    monkeypatch.setattr(timer.LocalTimer, "measure", lambda self, *args: recorder.measure(*args))
    assert CALLERS[caller](tiny_tflite) == 5.5
    (call,) = recorder.calls
    assert call["runs"] == 3 and call["threads"] == 1
    # What was timed is a whole LCE flatbuffer, not a stand-in.
    assert "LceBconv2d" in flatbuffer.count_ops(flatbuffer.check_flatbuffer(call["flatbuffer"]))


def test_the_budget_times_with_the_timer_it_is_given():
    recorder = RecordingTimer()
    assert reshaping.measure_latency(_tiny_spec(), runs=4, threads=2, timer=recorder) == 5.5
    assert [(c["runs"], c["threads"], c["warmup"]) for c in recorder.calls] == [(4, 2, 2)]


def test_time_flatbuffer_times_the_bytes_and_leaves_no_file(tiny_tflite, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    latency = timer.time_flatbuffer(tiny_tflite.read_bytes(), runs=3, warmup=1)
    assert latency.runs == len(latency.times_ms) == 3 and 0 < latency.min_ms <= latency.median_ms
    assert latency.peak_memory_bytes > 0 and list(tmp_path.iterdir()) == []


def test_time_flatbuffer_refuses_bad_bytes_before_timing(tiny_tflite):
    recorder = RecordingTimer()
    with pytest.raises(flatbuffer.FlatbufferError, match="^flatbuffer: not a valid TFLite flatbuffer"):
        timer.time_flatbuffer(tiny_tflite.read_bytes()[:-16], recorder)
    assert recorder.calls == []


def test_tflite_latency_keeps_the_quickstarts_keys(tiny_tflite):
    latency = evaluate.tflite_latency(tiny_tflite.read_bytes(), runs=3, warmup=1, num_threads=1)
    assert set(latency) == {"latency_ms", "latency_min_ms", "runs", "threads"}
    assert latency["runs"] == 3 and latency["threads"] == 1 and 0 < latency["latency_min_ms"] <= latency["latency_ms"]
