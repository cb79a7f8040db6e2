"""Time one flatbuffer with LCE's interpreter, in a process of its own.

``LocalTimer`` (``dwr_larq.deploy.timer``) runs this module as a worker
(``python -m dwr_larq.deploy.timing MODEL ...``). The worker imports no TensorFlow
(``dwr_larq`` and ``dwr_larq.deploy`` load it lazily, and the interpreter comes from
``convert.lite_interpreter``, which loads LCE's compiled wrapper alone), so it starts
in a fraction of a second and holds nothing but numpy and the interpreter: the
resident-memory growth it reports is the model's (weights, arena, bitpacked filters)
and no other model's freed-but-kept pages. It prints one JSON object on stdout.

Memory: Linux's peak resident set (VmHWM) after the runs, minus the resident set
just before the interpreter was created, with the peak reset there
(``/proc/self/clear_refs``); elsewhere, the growth of ``ru_maxrss``.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

import numpy as np

from dwr_larq.deploy.convert import BCONV_KERNELS, lite_interpreter

__all__ = ["BCONV_KERNELS", "measure", "main"]


def _status_kib(field: str):
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def _max_rss_bytes() -> int:
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def random_input(shape, dtype_name: str, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype_name)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
    return rng.normal(size=shape).astype(dtype)


def measure(flatbuffer: bytes, threads: int, runs: int, warmup: int, kernel: str = "bgemm", path=None) -> dict:
    """Latency of each of ``runs`` invocations after ``warmup`` ones, and memory growth."""
    use_proc = _reset_peak_rss()
    before = _status_kib("VmRSS") * 1024 if use_proc else _max_rss_bytes()

    start = time.perf_counter()
    interpreter = lite_interpreter(flatbuffer, threads, kernel, path)
    init_ms = (time.perf_counter() - start) * 1e3
    inputs = [random_input(shape, dtype) for shape, dtype in zip(interpreter.input_shapes, interpreter.input_types)]

    start = time.perf_counter()
    interpreter.predict(inputs)
    first_ms = (time.perf_counter() - start) * 1e3
    for _ in range(max(0, warmup - 1)):
        interpreter.predict(inputs)
    times_ms = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        interpreter.predict(inputs)
        times_ms.append((time.perf_counter_ns() - start) / 1e6)

    peak = _status_kib("VmHWM") * 1024 if use_proc else _max_rss_bytes()
    return {
        "times_ms": times_ms,
        "init_ms": init_ms,
        "first_ms": first_ms,
        "peak_memory_bytes": max(0, peak - before),
        "memory_method": "VmHWM growth" if use_proc else "ru_maxrss growth",
        "input_shape": list(interpreter.input_shapes[0]),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a .tflite file")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs, the first included")
    parser.add_argument("--kernel", choices=sorted(BCONV_KERNELS), default="bgemm")
    args = parser.parse_args(argv)
    with open(args.model, "rb") as handle:
        flatbuffer = handle.read()
    try:
        result = measure(flatbuffer, args.threads, args.runs, args.warmup, args.kernel, args.model)
    except Exception as error:  # the parent shows this one line instead of a traceback
        print(f"{type(error).__name__}: {error}", file=sys.stderr)
        return 1
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
