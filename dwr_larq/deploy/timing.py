"""Time one flatbuffer with LCE's interpreter, in a process of its own.

``benchmark`` runs this file as a script (``python timing.py MODEL ...``), not as
``dwr_larq.deploy.timing``: the package imports TensorFlow, and a worker without it
starts in a fraction of a second and holds nothing but numpy and the interpreter,
so the resident-memory growth it reports is the model's (weights, arena,
bitpacked filters) and no other model's freed-but-kept pages. It imports nothing
from ``dwr_larq`` and prints one JSON object on stdout.

Memory: Linux's peak resident set (VmHWM) after the runs, minus the resident set
just before the interpreter was created, with the peak reset there
(``/proc/self/clear_refs``); elsewhere, the growth of ``ru_maxrss``.
"""

from __future__ import annotations

import argparse
import glob
import importlib.machinery
import importlib.util
import json
import os
import resource
import sys
import time

import numpy as np

# LCE's bconv kernels, as the interpreter's (use_reference_bconv, use_indirect_bgemm) flags.
BCONV_KERNELS = {
    "bgemm": (False, False),  # LCE's default: im2col + BGEMM through ruy
    "indirect": (False, True),  # indirect BGEMM (no im2col buffer)
    "reference": (True, False),  # the reference implementation
}


def load_interpreter_module():
    """LCE's compiled interpreter wrapper, loaded without running ``larq_compute_engine/__init__``
    (which imports the converter and with it TensorFlow)."""
    spec = importlib.util.find_spec("larq_compute_engine")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("larq_compute_engine is not installed")
    folder = os.path.join(spec.submodule_search_locations[0], "tflite", "python")
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        for path in glob.glob(os.path.join(folder, "interpreter_wrapper_lite" + suffix)):
            module_spec = importlib.util.spec_from_file_location("interpreter_wrapper_lite", path)
            module = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(module)
            return module
    raise RuntimeError(f"no interpreter_wrapper_lite extension in {folder}")


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


def measure(flatbuffer: bytes, threads: int, runs: int, warmup: int, kernel: str = "bgemm") -> dict:
    """Latency of each of ``runs`` invocations after ``warmup`` ones, and memory growth."""
    wrapper = load_interpreter_module()
    reference, indirect = BCONV_KERNELS[kernel]
    use_proc = _reset_peak_rss()
    before = _status_kib("VmRSS") * 1024 if use_proc else _max_rss_bytes()

    start = time.perf_counter()
    interpreter = wrapper.LiteInterpreter(flatbuffer, threads, reference, indirect, False)
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
        result = measure(flatbuffer, args.threads, args.runs, args.warmup, args.kernel)
    except Exception as error:  # the parent shows this one line instead of a traceback
        print(f"{type(error).__name__}: {error}", file=sys.stderr)
        return 1
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
