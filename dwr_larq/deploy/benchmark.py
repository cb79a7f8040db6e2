"""Latency, memory and cost of converted models, side by side, on this host or a device.

An item is a zoo name (or a card ``.json``), a larq-zoo baseline (``lqz:QuickNet``)
or a ``.tflite`` file. Keras items are converted once per input size and kept in a
cache folder; each model is then timed at every thread count by a ``Timer``
(``dwr_larq.deploy.timer``): this host's LCE interpreter (``LocalTimer``) or
``lce_benchmark_model`` over ssh (``dwr_larq.deploy.remote.RemoteTimer``). ``run``
yields one ``Row`` per model and thread count as soon as it has one, so an
interrupted benchmark still has its rows.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import importlib.metadata
import json
import os
import re
import time
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Iterator

from dwr_larq import home
from dwr_larq.atomic import write_atomically
from dwr_larq.checks import member
from dwr_larq.deploy import arm_cost
from dwr_larq.deploy.flatbuffer import FlatbufferError, binary_conv_figures, read_flatbuffer, read_lce_flatbuffer
from dwr_larq.deploy.timer import BenchmarkError, DeviceError, Latency, LocalTimer, Timer  # noqa: F401 (the CLI's names)

BASELINE_PREFIX = "lqz:"
# larq-zoo models we compare with, built with weights=None (no download).
BASELINES = {
    "QuickNet": "larq_zoo.sota",
    "QuickNetSmall": "larq_zoo.sota",
    "BiRealNet": "larq_zoo.literature",
    "BinaryResNetE18": "larq_zoo.literature",
}
DEFAULT_INPUT_SIZE = 224  # larq-zoo's ImageNet models
# Changing how a spec becomes layers changes the flatbuffer: these dwr_larq/models files are part of the cache key.
_BUILDER_FILES = ("blocks.py", "builder.py", "layers.py")


class SourceKind(StrEnum):
    """What a benchmark item is."""

    ZOO = "zoo"  # a zoo model by name
    CARD = "card"  # a card .json
    LARQ_ZOO = "larq-zoo"  # a larq-zoo baseline (lqz:NAME)
    TFLITE = "tflite"  # a flatbuffer the user gives

    @property
    def has_card(self) -> bool:
        return self in (SourceKind.ZOO, SourceKind.CARD)


@dataclass(frozen=True)
class Source:
    """One benchmark item as resolved from the command line."""

    item: str
    name: str
    kind: SourceKind
    card: object = None
    path: Path | None = None

    def __post_init__(self):
        object.__setattr__(self, "kind", member(SourceKind, self.kind, "benchmark item kind"))

    @property
    def is_keras(self) -> bool:
        return self.kind != SourceKind.TFLITE


def resolve(item: str) -> Source:
    """What ``item`` names, or a ``BenchmarkError`` that says what would."""
    from dwr_larq import zoo

    if item.startswith(BASELINE_PREFIX):
        name = item[len(BASELINE_PREFIX) :]
        if name not in BASELINES:
            raise BenchmarkError(f"unknown larq-zoo baseline {item!r}; known: {', '.join(BASELINE_PREFIX + n for n in BASELINES)}")
        return Source(item, item, SourceKind.LARQ_ZOO)
    if item.endswith(".tflite"):
        path = Path(item)
        if not path.is_file():
            raise BenchmarkError(f"{item}: no such file")
        return Source(item, path.stem, SourceKind.TFLITE, path=path)
    if item.endswith(".json") and not Path(item).is_file():
        raise BenchmarkError(f"{item}: no such file")
    try:
        card = zoo.get_card(item)
    except ValueError as error:
        raise BenchmarkError(f"{error}; larq-zoo baselines: {', '.join(BASELINE_PREFIX + n for n in BASELINES)}; or a .tflite file") from None
    return Source(item, card.name, SourceKind.CARD if item.endswith(".json") else SourceKind.ZOO, card=card)


def resolve_all(items) -> list:
    """Resolve every item before any work starts, so a typo costs nothing."""
    if not items:
        raise BenchmarkError("nothing to benchmark: give zoo names, lqz:NAME baselines or .tflite files")
    sources = [resolve(item) for item in items]
    names = [source.name for source in sources]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise BenchmarkError(f"model(s) named twice: {', '.join(duplicates)}")
    return sources


def parse_threads(text: str) -> tuple:
    """``"1,2"`` -> ``(1, 2)``; thread counts are integers >= 1."""
    values = []
    for part in str(text).split(","):
        part = part.strip()
        if not re.fullmatch(r"-?\d+", part):
            raise BenchmarkError(f"--threads must be comma-separated integers such as 1,2; got {text!r}")
        if int(part) < 1:
            raise BenchmarkError(f"--threads: a thread count must be at least 1, got {int(part)}")
        values.append(int(part))
    return tuple(dict.fromkeys(values))


# --- conversion, cached ---------------------------------------------------------


def default_cache_dir() -> Path:
    return home.folder(home.Folder.TFLITE)


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def cache_key(source: Source, input_size: int) -> str:
    """What the flatbuffer depends on: the model's definition, the input size, the converter."""
    identity = {
        "kind": source.kind,
        "name": source.name,
        "input_size": input_size,
        "lce": _version("larq-compute-engine"),
        "tensorflow": _version("tensorflow"),
    }
    if source.kind == SourceKind.LARQ_ZOO:
        identity["larq-zoo"] = _version("larq-zoo")
    else:
        identity["spec"] = source.card.spec.to_dict()
        models = Path(__file__).parent.parent / "models"
        identity["code"] = hashlib.sha256(b"".join((models / f).read_bytes() for f in _BUILDER_FILES)).hexdigest()
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]


def default_input_size(source: Source) -> int:
    return source.card.spec.input_size if source.kind.has_card else DEFAULT_INPUT_SIZE


def build_keras(source: Source, input_size: int):
    """The Keras model of a zoo/card/larq-zoo item, random weights, ``input_size`` square input."""
    shape = (input_size, input_size, 3)
    if source.kind == SourceKind.LARQ_ZOO:
        name = source.name[len(BASELINE_PREFIX) :]
        model_fn = getattr(importlib.import_module(BASELINES[name]), name)
        return model_fn(weights=None, input_shape=shape)
    from dwr_larq import zoo

    return zoo.build_from_card(source.card, input_shape=shape)


@dataclass(frozen=True)
class Prepared:
    """A model ready to time: its flatbuffer on disk and what it costs."""

    source: Source
    path: Path
    input_size: int
    size_bytes: int
    figures: dict  # binary_macs, packed_binary_macs, activations, binary_convs, arm_instructions, arm_unestimated_ops
    conversion_seconds: float | None = None  # None: the user gave the .tflite
    cached: bool = False


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def _convert_to_cache(source: Source, input_size: int, tflite: Path, sidecar: Path, key: str) -> dict:
    from dwr_larq.deploy import convert
    from dwr_larq.models import costs
    from dwr_larq.models.builder import measure_then_clear

    def make_model():
        try:
            return build_keras(source, input_size)
        except ValueError as error:
            raise BenchmarkError(f"{source.item}: {error}") from None

    def measure_and_convert(model):
        figures = costs.measure(model).to_dict()
        start = time.perf_counter()
        return figures, convert.to_flatbuffer(model), time.perf_counter() - start

    figures, flatbuffer, seconds = measure_then_clear(make_model, measure_and_convert)
    meta = {"key": key, "model": source.name, "input_size": input_size, "conversion_seconds": seconds, "figures": figures}
    write_atomically(tflite, flatbuffer)
    write_atomically(sidecar, json.dumps(meta, indent=2).encode())
    return meta


def flatbuffer_figures(flatbuffer: bytes) -> dict:
    """What a flatbuffer alone tells: binary-conv figures and the ARM estimate."""
    estimate = arm_cost.estimate(flatbuffer)
    return {**binary_conv_figures(flatbuffer), "arm_instructions": round(estimate.instructions),
            "arm_unestimated_ops": estimate.unestimated}


def prepare(source: Source, input_size: int | None, cache_dir) -> Prepared:
    """Convert (or find in the cache) a Keras item; read a ``.tflite`` item's figures."""
    if source.kind == SourceKind.TFLITE:
        flatbuffer = read_lce_flatbuffer(source.path)
        figures = flatbuffer_figures(flatbuffer)
        side = figures["input_shape"][0] if figures["input_shape"] else None
        return Prepared(source, source.path, side, len(flatbuffer), figures)

    size = input_size or default_input_size(source)
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    key = cache_key(source, size)
    stem = cache_dir / f"{_safe_name(source.name)}-{size}-{key}"
    tflite, sidecar = stem.with_suffix(".tflite"), stem.with_suffix(".json")
    meta, cached = None, False
    if tflite.is_file() and sidecar.is_file():
        try:
            meta = json.loads(sidecar.read_text())
            read_flatbuffer(tflite)  # a damaged cached file is converted again
            cached = meta.get("key") == key
        except ValueError:
            meta = None
    if not cached:
        meta = _convert_to_cache(source, size, tflite, sidecar, key)
    from_file = flatbuffer_figures(read_flatbuffer(tflite))
    figures = {**meta["figures"], **{key: from_file[key] for key in ("packed_binary_macs", "arm_instructions", "arm_unestimated_ops")}}
    return Prepared(source, tflite, size, tflite.stat().st_size, figures, meta["conversion_seconds"], cached)


# --- rows ---------------------------------------------------------------------------


@dataclass
class Row:
    """One model at one thread count on one device: the unit of every output format."""

    model: str
    kind: str
    device: str
    kernel: str
    input_size: int | None
    threads: int
    runs: int
    warmup: int
    latency_median_ms: float
    latency_p90_ms: float | None
    latency_mean_ms: float
    latency_min_ms: float | None
    peak_memory_mb: float | None
    memory_method: str
    tflite_bytes: int
    binary_macs: int | None
    packed_binary_macs: int | None
    activations: int | None
    arm_instructions: int | None  # estimated (``dwr_larq.deploy.arm_cost``), over the ops it can price
    arm_unestimated_ops: list | None  # ops the estimate could not price (then a lower bound)
    conversion_seconds: float | None
    conversion_cached: bool
    load_average: float | None
    tflite: str

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Failure:
    """An item (or one thread count of it) that could not be benchmarked."""

    item: str
    message: str
    threads: int | None = None


def _load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def make_row(prepared: Prepared, threads: int, latency: Latency, timer: Timer, warmup: int, load) -> Row:
    figures = prepared.figures or {}
    memory = latency.peak_memory_bytes
    return Row(
        model=prepared.source.name,
        kind=prepared.source.kind,
        device=timer.device,
        kernel=timer.kernel,
        input_size=prepared.input_size,
        threads=threads,
        runs=latency.runs,
        warmup=warmup,
        latency_median_ms=round(latency.median_ms, 3),
        latency_p90_ms=None if latency.p90_ms is None else round(latency.p90_ms, 3),
        latency_mean_ms=round(latency.mean_ms, 3),
        latency_min_ms=None if latency.min_ms is None else round(latency.min_ms, 3),
        peak_memory_mb=None if memory is None else round(memory / 2**20, 2),
        memory_method=latency.memory_method,
        tflite_bytes=prepared.size_bytes,
        binary_macs=figures.get("binary_macs"),
        packed_binary_macs=figures.get("packed_binary_macs"),
        activations=figures.get("activations"),
        arm_instructions=figures.get("arm_instructions"),
        arm_unestimated_ops=figures.get("arm_unestimated_ops"),
        conversion_seconds=None if prepared.conversion_seconds is None else round(prepared.conversion_seconds, 2),
        conversion_cached=prepared.cached,
        load_average=load,
        tflite=str(prepared.path),
    )


@dataclass
class Plan:
    """What to run: the sources and the options every model shares."""

    sources: list
    threads: tuple = (1,)
    runs: int = 20
    warmup: int = 3
    rounds: int = 1
    input_size: int | None = None
    cache_dir: Path = field(default_factory=default_cache_dir)


def run(plan: Plan, timer: Timer, log=lambda message: None) -> Iterator:
    """Convert every model, then time them round by round; yield ``Row`` s and ``Failure`` s.

    With ``rounds > 1`` every model is timed once per round in turn, so a load that
    drifts during the run hits all models alike; a row then pools all its rounds and
    is yielded again, updated, after each round.
    """
    timer.check()
    prepared = []
    for source in plan.sources:
        log(f"preparing {source.name}")
        try:
            prepared.append(prepare(source, plan.input_size, plan.cache_dir))
        except (BenchmarkError, FlatbufferError) as error:  # the message names the item
            yield Failure(source.item, str(error))
        except Exception as error:  # the converter or a model builder failed on this item
            what = "conversion failed" if source.is_keras else "cannot be read"
            yield Failure(source.item, f"{source.item}: {what}: {type(error).__name__}: {error}")

    pooled, failed = {}, set()
    for round_index in range(plan.rounds):
        for model in prepared:
            for threads in plan.threads:
                key = (model.source.name, threads)
                if key in failed:
                    continue
                suffix = f" (round {round_index + 1}/{plan.rounds})" if plan.rounds > 1 else ""
                log(f"timing {model.source.name} with {threads} thread(s){suffix}")
                load = _load_average()
                try:
                    latency = timer.measure(model.path, threads, plan.runs, plan.warmup)
                except (BenchmarkError, FlatbufferError) as error:
                    failed.add(key)
                    yield Failure(model.source.item, str(error), threads)
                    continue
                pooled[key] = pooled[key].merge(latency) if key in pooled else latency
                yield make_row(model, threads, pooled[key], timer, plan.warmup, load)
