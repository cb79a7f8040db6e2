"""Benchmarking on a device (a Raspberry Pi) with LCE's ``lce_benchmark_model`` over ssh.

``lce_benchmark_model`` is TFLite's ``benchmark_model`` with LCE's ops registered;
its log ends with lines such as::

    count=50 first=106022 curr=105780 min=105416 max=106528 avg=105784 std=260 p5=105485 median=105718 p95=106281
    Inference timings in us: Init: 87639, First inference: 106436, Warmup (avg): 106065, Inference (avg): 105784
    Memory footprint delta from the start of the tool (MB): init=14.4414 overall=14.8164
    Overall peak memory footprint (MB) via periodic monitoring: 25.0508

(with an ``INFO: `` prefix in newer builds, numbers sometimes as ``2.95034e+06``,
``p5``/``median``/``p95`` only in newer builds). It prints statistics, not each
run, so a remote row's p90 is unknown; its median is the tool's ``median=`` when
printed, else the mean.
"""

from __future__ import annotations

import hashlib
import re
import shlex
import subprocess
from pathlib import PurePosixPath

from dwr_larq.deploy.flatbuffer import read_flatbuffer
from dwr_larq.deploy.timer import BenchmarkError, DeviceError, Latency

# lce_benchmark_model's own flags for LCE's bconv kernels (the same choice as the interpreter's).
KERNEL_FLAGS = {"bgemm": [], "indirect": ["--use_indirect_bgemm=true"], "reference": ["--use_reference_bconv=true"]}
SSH_CONNECTION_FAILED = 255  # ssh's own exit status; any other is the remote command's
_NUMBER = r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"


class ParseError(ValueError):
    """Output that holds no benchmark result; the message quotes the tool's error if any."""


def _fields(line: str) -> dict:
    return {key: float(value) for key, value in re.findall(rf"(\w+)=({_NUMBER})", line)}


def parse_benchmark_output(text: str) -> dict:
    """The timed run's statistics (us), the summary timings (us) and memory (MB) from a log."""
    stats, timings, memory = None, None, {}
    for line in text.splitlines():
        line = re.sub(r"^(?:[A-Z]+: )", "", line.strip())  # "INFO: " / "ERROR: " prefixes
        if line.startswith("count=") and "avg=" in line:
            stats = _fields(line)  # the last such line is the timed run, the one before the warm-up
        elif line.startswith("Inference timings in us:"):
            pairs = re.findall(rf"([A-Za-z ()]+): ({_NUMBER})", line.split(":", 1)[1])
            timings = {name.strip(): float(value) for name, value in pairs}
        elif line.startswith("Memory footprint delta from the start of the tool (MB):"):
            memory.update({f"delta_{k}": v for k, v in _fields(line).items()})
        elif line.startswith("Overall peak memory footprint (MB) via periodic monitoring:"):
            memory["peak"] = float(re.findall(_NUMBER, line.split(":", 1)[1])[0])
    if stats is None or timings is None:  # quote every error line: the first is the cause, the last the outcome
        errors = [re.sub(r"^(ERROR|Error|error):?\s*", "", l.strip()) for l in text.splitlines()
                  if re.match(r"(ERROR|Error|error)\b", l.strip())]
        reason = "; ".join(errors) if errors else (text.strip().splitlines() or ["no output"])[-1]
        raise ParseError(f"no benchmark result in lce_benchmark_model output: {reason}")
    return {"stats": stats, "timings": timings, "memory": memory}


def latency_from_output(text: str) -> Latency:
    """A ``Latency`` (ms) from ``lce_benchmark_model``'s log."""
    parsed = parse_benchmark_output(text)
    stats, memory = parsed["stats"], parsed["memory"]
    if "peak" in memory:
        peak_mb, method = memory["peak"], "lce_benchmark_model peak footprint"
    elif "delta_overall" in memory:
        peak_mb, method = memory["delta_overall"], "lce_benchmark_model footprint delta"
    else:
        peak_mb, method = None, ""
    return Latency(
        runs=int(stats["count"]),
        median_ms=stats.get("median", stats["avg"]) / 1e3,
        mean_ms=stats["avg"] / 1e3,
        p90_ms=None,
        min_ms=stats["min"] / 1e3 if "min" in stats else None,
        peak_memory_bytes=None if peak_mb is None else int(peak_mb * 2**20),
        memory_method=method,
    )


def remote_word(path: str) -> str:
    """Quote ``path`` for the remote shell, keeping a leading ``~/`` expandable."""
    if path == "~" or path.startswith("~/"):
        rest = path[2:]
        return '"$HOME"' + ("/" + shlex.quote(rest) if rest else "")
    return shlex.quote(path)


class RemoteTimer:
    """A ``Timer`` (``dwr_larq.deploy.timer``) on ``target`` (``user@host``): each flatbuffer is
    checked here, copied once with scp, then timed by ``lce_benchmark_model`` over ssh."""

    supports_rounds = False

    def __init__(self, target: str, binary: str = "lce_benchmark_model", remote_dir: str = "/tmp/dwr-larq-benchmark",
                 ssh: str = "ssh", scp: str = "scp", connect_timeout: int = 10, kernel: str = "bgemm"):
        if not target or target.startswith("-") or any(c.isspace() for c in target):
            raise BenchmarkError(f"--remote must look like user@host, got {target!r}")
        if kernel not in KERNEL_FLAGS:
            raise BenchmarkError(f"unknown bconv kernel {kernel!r}; one of {', '.join(KERNEL_FLAGS)}")
        self.kernel = kernel
        self.target, self.binary, self.remote_dir = target, binary, remote_dir.rstrip("/") or "/"
        self.ssh, self.scp = ssh, scp
        self.options = ["-o", "BatchMode=yes", "-o", f"ConnectTimeout={connect_timeout}"]
        self.device = f"remote {target} (lce_benchmark_model)"
        self._uploaded = {}

    def _call(self, command: list) -> subprocess.CompletedProcess:
        try:
            return subprocess.run(command, capture_output=True, text=True)
        except FileNotFoundError:
            raise DeviceError(f"{command[0]!r} is not installed on this machine; remote benchmarking needs ssh and scp") from None

    def _ssh(self, remote_command: str) -> subprocess.CompletedProcess:
        result = self._call([self.ssh, *self.options, self.target, remote_command])
        if result.returncode == SSH_CONNECTION_FAILED:
            lines = [l for l in result.stderr.splitlines() if l.strip()]
            reason = lines[-1] if lines else "ssh failed"
            raise DeviceError(f"cannot reach {self.target} over ssh: {reason}")
        return result

    def check(self) -> None:
        """Fail early, with one message, if the device is unreachable or lacks the binary."""
        binary = remote_word(self.binary)
        found = self._ssh(f"test -x {binary} || command -v {binary} >/dev/null 2>&1")
        if found.returncode != 0:
            raise DeviceError(
                f"{self.binary} not found on {self.target}; copy LCE's lce_benchmark_model there "
                "(a release asset of larq/compute-engine) and pass its path with --lce-benchmark-binary"
            )

    def upload(self, path) -> str:
        """Copy ``path`` to the device once per content (a temporary file's name comes back
        with other bytes); return its path there. A bad flatbuffer never leaves this host."""
        key = (str(path), hashlib.sha256(read_flatbuffer(path)).hexdigest())
        if key not in self._uploaded:
            made = self._ssh(f"mkdir -p {remote_word(self.remote_dir)}")
            if made.returncode != 0:
                raise DeviceError(f"cannot create {self.remote_dir} on {self.target}: {made.stderr.strip()}")
            remote = str(PurePosixPath(self.remote_dir) / PurePosixPath(str(path)).name)
            destination = remote.replace("~/", "", 1) if remote.startswith("~/") else remote  # scp paths are relative to $HOME
            copied = self._call([self.scp, "-q", *self.options, str(path), f"{self.target}:{destination}"])
            if copied.returncode != 0:
                raise DeviceError(f"scp of {path} to {self.target} failed: {copied.stderr.strip() or copied.returncode}")
            self._uploaded[key] = remote
        return self._uploaded[key]

    def command(self, remote_graph: str, threads: int, runs: int, warmup: int) -> str:
        return " ".join(
            [remote_word(self.binary), f"--graph={remote_word(remote_graph)}", f"--num_threads={threads}",
             f"--num_runs={runs}", f"--warmup_runs={warmup}", *KERNEL_FLAGS[self.kernel]]
        )

    def measure(self, path, threads: int, runs: int, warmup: int) -> Latency:
        remote_graph = self.upload(path)
        result = self._ssh(self.command(remote_graph, threads, runs, warmup) + " 2>&1")
        try:
            return latency_from_output(result.stdout + result.stderr)
        except ParseError as error:
            raise BenchmarkError(f"{path} on {self.target}: {error}") from None
