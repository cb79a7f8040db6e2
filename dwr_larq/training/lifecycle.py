"""One run's life, the same for ``train`` and ``finetune``: devices and dtype policy,
the run folder (config check, resume), the phases' ``fit``, the saved model, its
accuracy and the summary written last.

``train`` and ``finetune`` differ only in what they build (a ``Job``: the model to
save, its phases, the run's config and summary fields), so a fix to resuming,
multi-worker writing or the summary reaches both.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import tensorflow as tf

from dwr_larq.checks import positive_int
from dwr_larq.deploy.accuracy import keras_accuracy
from dwr_larq.training import data, precision, runs
from dwr_larq.training import strategy as _strategy
from dwr_larq.training.loop import ACCURACY, fit_phases


def check_compile_options(jit_compile: bool = False, steps_per_execution: int = 1) -> dict:
    """Keras ``compile`` options, checked; empty at their defaults."""
    steps_per_execution = positive_int(steps_per_execution, "steps per execution")
    options = {}
    if jit_compile:
        options["jit_compile"] = True
    if steps_per_execution > 1:
        options["steps_per_execution"] = steps_per_execution
    return options


@dataclass(frozen=True)
class Devices:
    """Where and how a run computes: the strategy, the dtype policy and Keras' compile options."""

    distribution: _strategy.Distribution
    policy: str | None
    compile_options: dict


def devices(strategy: str = "auto", mixed_precision=None, jit_compile: bool = False,
            steps_per_execution: int = 1) -> Devices:
    """Resolve and check the device options every run takes."""
    compile_options = check_compile_options(jit_compile, steps_per_execution)
    distribution = _strategy.resolve(strategy)
    return Devices(distribution, precision.policy_name(mixed_precision, distribution.device), compile_options)


@dataclass
class Job:
    """What one run trains, built under the strategy's scope by ``train`` or ``finetune``."""

    name: str  # the model's name, for the summary
    model: tf.keras.Model  # the model whose weights the run saves
    phases: list  # ``loop.Phase`` s, fitted in turn
    config: dict  # the run folder's config.json: a resume must match it
    source: data.Source
    batch_size: int  # global
    image_size: int
    channels: int
    planned_epochs: int
    identity: dict  # the summary's first fields (what was trained)
    augmentation: data.Policy | None = None  # None: the source's own
    from_history: Callable[[list], dict] = field(default=lambda history: {})  # more summary fields
    closing: dict = field(default_factory=dict)  # the summary's last fields


def run(out, devices_: Devices, prepare: Callable[[], Job], *, seed: int, verbose="auto") -> dict:
    """Build the job (``prepare``, under the dtype policy and the strategy's scope), start
    or resume its run folder ``out``, fit its phases, save the model, measure its test
    accuracy and write the summary; a finished run's summary is returned as it is."""
    distribution = devices_.distribution
    with precision.global_policy(devices_.policy), distribution.strategy.scope():
        job = prepare()
        folder = runs.RunDir(out, writer=distribution.is_chief)
        folder.start(job.config)
        if folder.complete:
            return folder.summary()

        start = time.perf_counter()
        tf.keras.utils.set_random_seed(seed)
        pipe = dict(batch_size=job.batch_size, image_size=job.image_size, channels=job.channels,
                    shard=(distribution.cluster.workers, distribution.cluster.index))
        if job.augmentation is not None:
            pipe["policy"] = job.augmentation
        train_data = data.pipeline(job.source, "train", seed=seed, **pipe)
        test_data = data.pipeline(job.source, "test", **pipe)
        steps = fit_phases(job.phases, train_data, test_data, folder, verbose)

    final = folder.save_model(job.model)  # float32, single-device: every worker reads the weights
    if not folder.writer:
        return {"model": job.name, "worker": distribution.cluster.index, "chief": False, "run": str(out)}
    test_data = data.pipeline(job.source, "test", batch_size=job.batch_size, image_size=job.image_size,
                              channels=job.channels)
    result = keras_accuracy(final, test_data)
    history = folder.history()
    summary = {
        **job.identity,
        "epochs": len(history),
        "planned_epochs": job.planned_epochs,
        ACCURACY: result[ACCURACY],
        "test_images": result["images"],
        "train_images": train_data.num_examples,
        **job.from_history(history),
        **runs.epoch_figures(history),
        "process_seconds": round(time.perf_counter() - start, 2),
        "steps": steps,
        "model_file": runs.MODEL,
        **job.closing,
    }
    folder.finish(summary)
    return summary
