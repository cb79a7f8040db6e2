"""The one training loop: a run is a sequence of phases, each a Keras ``fit`` that starts
from the model the previous phase trained.

``train`` (a recipe's steps, e.g. ReActNet's two), ``finetune`` (frozen backbone, then
unfrozen) and DWR's pre-training (one phase, no run folder) all go through
``fit_phases``, so resuming, history and throughput figures work the same everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import tensorflow as tf

from dwr_larq.training import runs

ACCURACY = "accuracy"


def accuracy_metric():
    return tf.keras.metrics.SparseCategoricalAccuracy(name=ACCURACY)


@tf.keras.utils.register_keras_serializable(package="dwr_larq")
class SparseCategoricalCrossentropyWithSmoothing(tf.keras.losses.Loss):
    """Keras 2's sparse cross-entropy has no label smoothing; this one-hots the labels first."""

    def __init__(self, label_smoothing: float = 0.0, name="crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.label_smoothing = label_smoothing

    def call(self, y_true, y_pred):
        y_true = tf.one_hot(tf.cast(tf.reshape(y_true, [-1]), tf.int32), tf.shape(y_pred)[-1])
        return tf.keras.losses.categorical_crossentropy(y_true, y_pred, label_smoothing=self.label_smoothing)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


@dataclass(frozen=True)
class Phase:
    """One ``fit`` of a run.

    ``prepare(previous, updates)`` returns the compiled model to fit, given the model the
    previous phase fitted (None for the first) and the optimizer updates this phase
    makes (for learning-rate schedules). ``details`` go into the phase's summary.
    """

    name: str
    epochs: int
    prepare: Callable
    details: dict = field(default_factory=dict)


def fit_phases(phases, train, validation=None, run: runs.RunDir | None = None, verbose="auto") -> list:
    """Fit ``phases`` in turn on the pipeline ``train``; returns one summary per phase.

    With a ``run`` folder every phase logs, checkpoints and backs up there, so running
    the same phases again resumes where a kill stopped them (a finished phase restores
    its final state and trains no epoch). Without one, the Keras history is returned.
    """
    phases = [phase for phase in phases if phase.epochs > 0]
    previous, first_epoch, summaries = None, 0, []
    for index, phase in enumerate(phases):
        model = phase.prepare(previous, phase.epochs * train.steps)
        callbacks = []
        if run is not None:
            callbacks = run.callbacks(
                phase.name, first_epoch=first_epoch, final=index == len(phases) - 1,
                images_per_epoch=train.num_examples,
            )
        history = model.fit(
            train.dataset, validation_data=validation.dataset if validation is not None else None,
            initial_epoch=first_epoch, epochs=first_epoch + phase.epochs, callbacks=callbacks, verbose=verbose,
        )
        if run is not None:
            rows = [row for row in run.history() if first_epoch <= row["epoch"] < first_epoch + phase.epochs]
            figures = runs.epoch_figures(rows)
        else:
            figures = {"history": {key: [round(float(v), 4) for v in values] for key, values in history.history.items()}}
        summaries.append({"name": phase.name, "epochs": phase.epochs, **phase.details, **figures})
        previous, first_epoch = model, first_epoch + phase.epochs
    return summaries
