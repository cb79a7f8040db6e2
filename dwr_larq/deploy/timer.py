"""The one way to time a flatbuffer: a ``Timer`` returning a ``Latency``.

Two timers: ``LocalTimer`` runs LCE's interpreter on this host in a fresh worker
process per measurement (``dwr_larq.deploy.timing``: clean memory figures, a crash
cannot take the caller down); ``dwr_larq.deploy.remote.RemoteTimer`` runs
``lce_benchmark_model`` on a device over ssh. ``dwr-larq benchmark``, the quickstart,
DWR's latency budget (``dwr_larq.reshaping.measure_latency``) and
``evaluate.tflite_latency`` all time through one of them, with files
(``Timer.measure``) or bytes (``time_flatbuffer``).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from dwr_larq.deploy.convert import BCONV_KERNELS
from dwr_larq.deploy.flatbuffer import check_flatbuffer, read_flatbuffer


class BenchmarkError(ValueError):
    """A model, file or option that cannot be timed or benchmarked; the message says why."""


class DeviceError(RuntimeError):
    """The timer's device cannot run anything (unreachable, no benchmark binary): stop the run."""


@dataclass(frozen=True)
class Latency:
    """One model at one thread count: latency statistics in ms and memory growth in bytes."""

    runs: int
    median_ms: float
    mean_ms: float
    p90_ms: float | None = None
    min_ms: float | None = None
    peak_memory_bytes: int | None = None
    memory_method: str = ""
    times_ms: tuple = ()

    @classmethod
    def from_times(cls, times_ms, peak_memory_bytes=None, memory_method="") -> Latency:
        times = np.asarray(times_ms, dtype=float)
        return cls(
            runs=len(times),
            median_ms=float(np.median(times)),
            mean_ms=float(times.mean()),
            p90_ms=float(np.percentile(times, 90)),
            min_ms=float(times.min()),
            peak_memory_bytes=peak_memory_bytes,
            memory_method=memory_method,
            times_ms=tuple(float(t) for t in times),
        )

    def merge(self, other: Latency) -> Latency:
        """Pool the runs of two rounds (local timings keep every run)."""
        peak = max((m for m in (self.peak_memory_bytes, other.peak_memory_bytes) if m is not None), default=None)
        return Latency.from_times(self.times_ms + other.times_ms, peak, self.memory_method or other.memory_method)


class Timer(Protocol):
    """Where and how flatbuffers are timed."""

    device: str  # shown in reports: which machine and tool
    kernel: str  # LCE's bconv kernel: "bgemm", "indirect" or "reference"
    supports_rounds: bool  # keeps every run's time, so rounds can be pooled

    def check(self) -> None:
        """Raise ``DeviceError`` if nothing can be timed (unreachable device, missing tool)."""

    def measure(self, path, threads: int, runs: int, warmup: int) -> Latency:
        """Time the ``.tflite`` file ``path``: ``warmup`` untimed runs, then ``runs`` timed ones.
        A file or model that cannot be timed raises a ``ValueError`` naming it."""


class LocalTimer:
    """This host's LCE interpreter, one fresh worker process per measurement (see ``dwr_larq.deploy.timing``)."""

    supports_rounds = True

    def __init__(self, kernel: str = "bgemm", python: str = sys.executable):
        if kernel not in BCONV_KERNELS:
            raise BenchmarkError(f"unknown bconv kernel {kernel!r}; one of {', '.join(BCONV_KERNELS)}")
        self.kernel = kernel
        self.python = python
        self.device = f"local {platform.machine()} (LCE interpreter)"

    def check(self) -> None:
        """Nothing to check: the interpreter is a dependency."""

    def measure(self, path, threads: int, runs: int, warmup: int) -> Latency:
        read_flatbuffer(path)  # a bad file is a FlatbufferError here, not a crashed worker
        command = [self.python, "-m", "dwr_larq.deploy.timing", str(path), "--threads", str(threads), "--runs", str(runs)]
        command += ["--warmup", str(warmup), "--kernel", self.kernel]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            lines = [line for line in result.stderr.splitlines() if line.strip()]
            reason = lines[-1] if lines else f"exit status {result.returncode}"
            if result.returncode < 0:
                reason = f"the interpreter crashed (signal {-result.returncode})"
            raise BenchmarkError(f"{path}: LCE interpreter failed: {reason}")
        data = json.loads(result.stdout)
        return Latency.from_times(data["times_ms"], data["peak_memory_bytes"], data["memory_method"])


def time_flatbuffer(flatbuffer: bytes, timer: Timer | None = None, *, threads: int = 1, runs: int = 20,
                    warmup: int = 3) -> Latency:
    """Time flatbuffer bytes with ``timer`` (default: a ``LocalTimer``), through a temporary
    ``.tflite`` file, since timers time files; the caller runs ``timer.check()`` once."""
    check_flatbuffer(flatbuffer)  # here, so the error does not name the temporary file
    timer = timer or LocalTimer()
    descriptor, path = tempfile.mkstemp(prefix="dwr-larq-", suffix=".tflite")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(flatbuffer)
        return timer.measure(path, threads, runs, warmup)
    finally:
        os.remove(path)
