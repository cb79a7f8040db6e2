"""Which devices a run trains on: TensorFlow's own ``tf.distribute`` strategies, chosen by name.

- ``one``: the default strategy (one device), exactly what plain Keras does.
- ``mirrored``: ``MirroredStrategy`` over every GPU, or every logical CPU device when
  there is no GPU (so the same code path can be tried on a laptop).
- ``multiworker``: ``MultiWorkerMirroredStrategy`` configured from ``TF_CONFIG``: one process
  per machine, each running the same command.
- ``tpu``: ``TPUStrategy`` through ``TPUClusterResolver`` (``TPU_NAME``, default ``local``
  for a TPU VM).
- ``auto``: ``mirrored`` when more than one GPU is visible, else ``one``.

``resolve`` checks everything it can before a strategy is created (``TF_CONFIG`` is
parsed and validated here, because TensorFlow would otherwise fail deep inside or wait
for workers that are not listed), and every failure is one ``ValueError`` naming it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

STRATEGIES = ("auto", "one", "mirrored", "multiworker", "tpu")
WORKER_TASKS = ("chief", "worker")


@dataclass(frozen=True)
class Cluster:
    """What this process is in a multi-worker job, read from ``TF_CONFIG``."""

    workers: int  # processes that train (chief included)
    index: int  # this process's place among them, the chief first
    is_chief: bool


def read_tf_config(text: str | None) -> Cluster:
    """Parse and validate ``TF_CONFIG``; the chief is the ``chief`` task, else worker 0
    (Keras' convention, which decides who writes the run folder)."""
    example = ('{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", '
               '"index": 0}}')
    if not text:
        raise ValueError(f"strategy 'multiworker' needs TF_CONFIG set on every worker, e.g. TF_CONFIG='{example}'")
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG is not valid JSON ({error.msg} at character {error.pos}): {text!r}") from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    task = config.get("task") if isinstance(config, dict) else None
    if not isinstance(cluster, dict) or not isinstance(task, dict):
        raise ValueError(f"TF_CONFIG must hold a 'cluster' and a 'task' object, e.g. {example}; got {text!r}")
    unknown = sorted(set(cluster) - set(WORKER_TASKS))
    if unknown:
        raise ValueError(f"TF_CONFIG cluster has task type(s) {unknown}; multiworker training uses only chief and worker")
    for kind, addresses in cluster.items():
        if not isinstance(addresses, list) or not addresses or not all(isinstance(a, str) and ":" in a for a in addresses):
            raise ValueError(f"TF_CONFIG cluster {kind!r} must be a non-empty list of 'host:port' strings, got {addresses!r}")
    if len(cluster.get("chief", [])) > 1:
        raise ValueError(f"TF_CONFIG cluster may have one chief, got {cluster['chief']!r}")
    kind, index = task.get("type"), task.get("index")
    if kind not in cluster:
        raise ValueError(f"TF_CONFIG task type {kind!r} is not in the cluster (it has {sorted(cluster)})")
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(cluster[kind]):
        raise ValueError(f"TF_CONFIG task index {index!r} is not in 0..{len(cluster[kind]) - 1} for task type {kind!r}")
    chiefs = len(cluster.get("chief", []))
    position = index if kind == "chief" else chiefs + index
    return Cluster(chiefs + len(cluster.get("worker", [])), position, position == 0)


@dataclass(frozen=True)
class Distribution:
    """A strategy and the facts a run needs about it."""

    name: str  # the strategy actually used (``auto`` resolved)
    strategy: object  # tf.distribute.Strategy
    device: str  # "CPU", "GPU" or "TPU": what the replicas run on
    cluster: Cluster = Cluster(1, 0, True)

    @property
    def replicas(self) -> int:
        return int(self.strategy.num_replicas_in_sync)

    @property
    def is_chief(self) -> bool:
        return self.cluster.is_chief

    def per_replica_batch(self, global_batch: int) -> int:
        """``global_batch`` split over the replicas; it must divide evenly, or the replicas
        would train on batches of different sizes and the learning rate would not mean
        what the recipe says."""
        if global_batch % self.replicas:
            raise ValueError(
                f"batch size {global_batch} (the global batch) is not divisible by the {self.replicas} replicas of "
                f"strategy {self.name!r}; use a multiple of {self.replicas}"
            )
        return global_batch // self.replicas

    def describe(self) -> dict:
        return {"strategy": self.name, "device": self.device, "replicas": self.replicas, "workers": self.cluster.workers}


def _devices(kind: str) -> list:
    import tensorflow as tf

    return [device.name for device in tf.config.list_logical_devices(kind)]


def _tpu(tf):
    name = os.environ.get("TPU_NAME", "local")
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=name)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, tf.errors.OpError) as error:
        first_line = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
        raise ValueError(
            f"strategy 'tpu': no TPU reachable at {name!r} (set TPU_NAME to the TPU's name or grpc:// address): "
            f"{first_line}"
        ) from None
    return tf.distribute.TPUStrategy(resolver)


def resolve(name: str = "auto") -> Distribution:
    """The strategy called ``name`` (see the module docstring), created and described."""
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")
    import tensorflow as tf

    if name == "multiworker":  # TF_CONFIG validated before TensorFlow sees it
        cluster = read_tf_config(os.environ.get("TF_CONFIG"))
        try:  # before anything lists devices: that starts the runtime, too late for collectives
            strategy = tf.distribute.MultiWorkerMirroredStrategy()
        except RuntimeError as error:
            raise ValueError(f"strategy 'multiworker' must be created before TensorFlow runs anything: {error}") from None
        return Distribution("multiworker", strategy, "GPU" if _devices("GPU") else "CPU", cluster)
    gpus = _devices("GPU")
    if name == "auto":
        name = "mirrored" if len(gpus) > 1 else "one"
    device = "GPU" if gpus else "CPU"
    if name == "one":
        return Distribution("one", tf.distribute.get_strategy(), device)
    if name == "mirrored":
        return Distribution("mirrored", tf.distribute.MirroredStrategy(devices=gpus or _devices("CPU")), device)
    return Distribution("tpu", _tpu(tf), "TPU")
