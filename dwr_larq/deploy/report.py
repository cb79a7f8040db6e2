"""Benchmark rows as a terminal table, JSON, CSV, Markdown and a plot.

Every format is written from the same list of row dicts (``Row.to_dict()``), and the
JSON holds everything the others show, so ``scripts/benchmark_table.py`` can redraw
the README's table from it.
"""

from __future__ import annotations

import csv
import io
import json
import platform
from datetime import datetime, timezone

from dwr_larq.atomic import write_atomically
from dwr_larq.formatting import format_count, markdown_table as _markdown, text_table as _text

JSON_FORMAT_VERSION = 1
# What the tables need from a row read back from JSON.
REQUIRED_ROW_KEYS = {"model", "threads", "latency_median_ms", "latency_p90_ms", "binary_macs", "activations",
                     "peak_memory_mb", "tflite_bytes", "conversion_seconds"}


def _count(value) -> str:
    return "n/a" if value is None else format_count(value)


def _ms(value) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def _mib(value) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def _arm(row) -> str:
    """The estimate, marked ``+?`` when some ops could not be priced (a lower bound)."""
    value = row.get("arm_instructions")
    if value is None:
        return "n/a"
    return format_count(value) + ("+?" if row.get("arm_unestimated_ops") else "")


def _seconds(row) -> str:
    seconds = row.get("conversion_seconds")
    return "given" if seconds is None else f"{seconds:.1f}"


# (header, how to show a row) for the terminal and Markdown tables.
COLUMNS = [
    ("model", lambda r: r["model"]),
    ("threads", lambda r: str(r["threads"])),
    ("median ms", lambda r: _ms(r["latency_median_ms"])),
    ("p90 ms", lambda r: _ms(r["latency_p90_ms"])),
    ("min ms", lambda r: _ms(r.get("latency_min_ms"))),
    ("x ref", lambda r: "" if r.get("ratio") is None else f"{r['ratio']:.2f}"),
    ("binary MACs", lambda r: _count(r["binary_macs"])),
    ("activations", lambda r: _count(r["activations"])),
    ("ARM instr. (est.)", _arm),
    ("peak MiB", lambda r: _mib(r["peak_memory_mb"])),
    ("tflite MiB", lambda r: f"{r['tflite_bytes'] / 2**20:.2f}"),
    ("convert s", _seconds),
]


def with_ratios(rows: list, reference: str | None) -> list:
    """Copies of ``rows`` with ``ratio``: median latency over the reference model's at the same thread count."""
    base = {r["threads"]: r["latency_median_ms"] for r in rows if r["model"] == reference}
    out = []
    for row in rows:
        ref = base.get(row["threads"])
        out.append({**row, "ratio": row["latency_median_ms"] / ref if reference and ref else None})
    return out


def _columns(rows: list, headers=None) -> list:
    """The columns with something to show (the ratio only when there is a reference),
    only those named in ``headers`` when given."""
    if headers is not None:
        unknown = sorted(set(headers) - {h for h, _ in COLUMNS})
        if unknown:
            raise ValueError(f"unknown column(s) {', '.join(map(repr, unknown))}; known: {', '.join(h for h, _ in COLUMNS)}")
    return [(h, show) for h, show in COLUMNS if (headers is None or h in headers) and any(show(r) for r in rows)]


def text_table(rows: list) -> str:
    columns = _columns(rows)
    return _text([h for h, _ in columns], [[show(r) for _, show in columns] for r in rows])


def markdown_table(rows: list, headers=None) -> str:
    columns = _columns(rows, headers)
    return _markdown([h for h, _ in columns], [[show(r) for _, show in columns] for r in rows])


def describe(meta: dict) -> str:
    """One sentence saying where and how the rows were measured."""
    device = meta.get("device", "?")
    if meta.get("cpu") and device.startswith("local"):
        device += f", {meta['cpu']} x{meta.get('cpus')}, LCE {meta.get('larq-compute-engine', '?')}"
    parts = [device, f"bconv kernel {meta.get('kernel', '?')}"]
    if meta.get("runs"):
        parts.append(f"{meta['runs']} timed runs after {meta.get('warmup')} warm-up, x{meta.get('rounds', 1)} round(s)")
    if meta.get("reference"):
        parts.append(f"x ref: median over {meta['reference']}'s at the same thread count")
    if meta.get("load_average"):
        parts.append(f"load average {meta['load_average']}")
    if meta.get("arm_estimate"):
        parts.append(f"ARM instr. (est.): {meta['arm_estimate']}, not measured here")
    return "; ".join(parts)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def host_meta() -> dict:
    import importlib.metadata
    import os

    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "larq-compute-engine": importlib.metadata.version("larq-compute-engine"),
    }


def document(rows: list, failures: list, meta: dict) -> dict:
    return {"format": JSON_FORMAT_VERSION, "meta": meta, "rows": rows, "failures": failures}


def write_json(path, rows: list, failures: list, meta: dict) -> None:
    write_atomically(path, json.dumps(document(rows, failures, meta), indent=2).encode())


def write_csv(path, rows: list) -> None:
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    write_atomically(path, buffer.getvalue().encode())


def write_markdown(path, rows: list, meta: dict) -> None:
    text = markdown_table(rows) + "\n\n" + describe(meta) + "\n"
    write_atomically(path, text.encode())


def read_json(path) -> dict:
    """A benchmark JSON file, checked to be one."""
    with open(path) as handle:
        try:
            data = json.load(handle)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: not valid JSON: {error}") from None
    if not isinstance(data, dict) or "rows" not in data or "meta" not in data:
        raise ValueError(f"{path}: not a dwr-larq benchmark file (no 'rows' and 'meta')")
    for index, row in enumerate(data["rows"]):
        missing = sorted(REQUIRED_ROW_KEYS - set(row))
        if missing:
            raise ValueError(f"{path}: row {index} lacks {', '.join(missing)}; write the file with dwr-larq benchmark --json")
    return data


def plot(path, rows: list, title: str = "") -> int:
    """Median latency against binary MACs and against activations; returns the points drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(12, 5), sharey=True)
    markers = "os^Dv<>"
    thread_counts = sorted({r["threads"] for r in rows})
    drawn = 0
    for axis, key, label in ((axes[0], "binary_macs", "binary MACs"), (axes[1], "activations", "activations (elements into binary convs)")):
        for t_index, threads in enumerate(thread_counts):
            points = [r for r in rows if r["threads"] == threads and r.get(key) is not None]
            axis.scatter([r[key] for r in points], [r["latency_median_ms"] for r in points],
                         marker=markers[t_index % len(markers)], label=f"{threads} thread(s)")
            for r in points:
                axis.annotate(r["model"], (r[key], r["latency_median_ms"]), fontsize=7, xytext=(3, 3), textcoords="offset points")
            drawn += len(points) if axis is axes[0] else 0
        axis.set_xlabel(label)
        values = [r[key] for r in rows if r.get(key)]
        if values and max(values) > 20 * min(values):  # CIFAR and ImageNet models in one plot
            axis.set_xscale("log")
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("median latency (ms)")
    latencies = [r["latency_median_ms"] for r in rows]
    if latencies and max(latencies) > 20 * min(latencies):
        axes[0].set_yscale("log")
    axes[0].legend()
    if title:
        figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120)
    plt.close(figure)
    write_atomically(path, buffer.getvalue())
    return drawn
