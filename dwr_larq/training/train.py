"""Training with plain Keras ``fit``: a zoo model (or card), a dataset, a recipe, a run folder.

    >>> from dwr_larq.training.train import train
    >>> summary = train("ResNet20DWR", dataset="digits", epochs=4, batch_size=64,
    ...                 recipe="reactnet", out="runs/resnet20dwr")

Everything that can be wrong with the arguments is checked before the run folder is
created. Running the same call again resumes a killed run (see ``dwr_larq.training.runs``).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import tensorflow as tf

from dwr_larq import zoo
from dwr_larq.training import data, distill, evaluate, recipes, runs
from dwr_larq.training.loop import ACCURACY, Phase, accuracy_metric, fit_phases
from dwr_larq.zoo.cards import ModelCard


def _teacher_label(teacher) -> str | None:
    if teacher is None:
        return None
    if isinstance(teacher, tf.keras.Model):
        return f"keras-model:{teacher.name}"
    teacher = os.fspath(teacher)
    return os.path.abspath(teacher) if os.path.exists(teacher) else teacher


def compile_for_step(model, recipe: recipes.Recipe, step: recipes.Step, updates: int, teacher=None):
    """The model ``fit`` runs for one step: the student itself, or a ``Distiller``."""
    optimizer = recipe.optimizer(step, updates)
    if teacher is None:
        model.compile(optimizer=optimizer, loss=recipe.loss(), metrics=[accuracy_metric()])
        return model
    distiller = distill.Distiller(
        model, teacher, distill_weight=recipe.distill_weight, label_smoothing=recipe.label_smoothing
    )
    distiller.compile(optimizer=optimizer, metrics=[accuracy_metric()])
    return distiller


@dataclass
class Plan:
    """Everything a run needs, checked before its folder is touched."""

    card: ModelCard
    recipe: recipes.Recipe
    step_epochs: list
    source: data.Source
    student: tf.keras.Model
    teacher: tf.keras.Model | None
    batch_size: int
    image_size: int
    channels: int
    config: dict


def plan(model, *, dataset, epochs, batch_size, recipe="reactnet", teacher=None, data_dir=None,
         input_size=None, learning_rate=None, seed=0, channels=None) -> Plan:
    """Resolve and check every argument of ``train``; raises ``ValueError`` naming the problem."""
    recipe_ = recipes.get_recipe(recipe)
    if learning_rate is not None:
        if not learning_rate > 0:
            raise ValueError(f"learning rate must be > 0, got {learning_rate!r}")
        recipe_ = recipe_.replace(learning_rate=float(learning_rate))
    step_epochs = recipe_.step_epochs(epochs)
    batch_size = data.check_batch_size(batch_size)
    card = zoo.get_card(model)
    size = input_size or card.spec.input_size
    source = data.source(dataset, data_dir, image_size=size)
    channels = data.check_channels(source.channels if channels is None else channels)
    student = zoo.build_from_card(card, input_shape=(size, size, channels), num_classes=source.num_classes)
    teacher_model = (
        distill.load_teacher(teacher, (size, size, channels), source.num_classes) if teacher is not None else None
    )
    config = {
        "model": card.name,
        "spec": card.spec.to_dict(),
        "dataset": dataset,
        "data_dir": os.path.abspath(data_dir) if data_dir else None,
        "epochs": epochs,
        "batch_size": batch_size,
        "input_size": size,
        "channels": channels,
        "recipe": recipe_.name,
        "learning_rate": recipe_.learning_rate,
        "teacher": _teacher_label(teacher),
        "seed": seed,
    }
    return Plan(card, recipe_, step_epochs, source, student, teacher_model, batch_size, size, channels, config)


def phases(plan: Plan) -> list:
    """The recipe's steps as training phases: each step trains its own view of the
    student (real or binary weights), starting from the previous step's weights."""

    def phase(step, count):
        def prepare(previous, updates):
            model = recipes.model_for_step(plan.student, step)
            if previous is not None:
                recipes.transfer_weights(getattr(previous, "student", previous), model)
            return compile_for_step(model, plan.recipe, step, updates, plan.teacher)

        return Phase(step.name, count, prepare, {"binary_weights": step.binary_weights})

    return [phase(step, count) for step, count in zip(plan.recipe.steps, plan.step_epochs)]


def train(model: str, *, dataset: str, epochs: int, batch_size: int, out, recipe: str = "reactnet", teacher=None,
          data_dir=None, input_size: int | None = None, learning_rate: float | None = None, seed: int = 0,
          verbose="auto", channels: int | None = None) -> dict:
    """Train zoo model (or card file) ``model`` and return the run's summary.

    Args:
        model: a zoo name such as ``"ResNet18CIFARDWR"`` or a card ``.json`` path.
        dataset: ``digits``, ``folder:PATH`` or a tensorflow-datasets name.
        epochs: total epochs, split over the recipe's steps.
        out: the run directory (created, or resumed when it holds this same run).
        teacher: optional distillation teacher (see ``dwr_larq.training.distill.load_teacher``).
        learning_rate: overrides the recipe's peak learning rate.
    """
    plan_ = plan(model, dataset=dataset, epochs=epochs, batch_size=batch_size, recipe=recipe, teacher=teacher,
                 data_dir=data_dir, input_size=input_size, learning_rate=learning_rate, seed=seed, channels=channels)
    run = runs.RunDir(out)
    run.start(plan_.config)
    if run.complete:
        return run.summary()

    start = time.perf_counter()
    tf.keras.utils.set_random_seed(seed)
    pipe = dict(batch_size=plan_.batch_size, image_size=plan_.image_size, channels=plan_.channels)
    train_data = data.pipeline(plan_.source, "train", seed=seed, **pipe)
    test_data = data.pipeline(plan_.source, "test", **pipe)
    steps = fit_phases(phases(plan_), train_data, test_data, run, verbose)

    result = evaluate.keras_accuracy(plan_.student, test_data)
    run.save_model(plan_.student)
    history = run.history()
    final_rows = [row for row in history if row["epoch"] >= sum(plan_.step_epochs[:-1])]
    best = max(final_rows, key=lambda row: row.get(f"val_{ACCURACY}", -1.0), default={})
    summary = {
        "model": plan_.card.name,
        "dataset": dataset,
        "recipe": plan_.recipe.name,
        "epochs": len(history),
        "planned_epochs": epochs,
        ACCURACY: result[ACCURACY],
        "test_images": result["images"],
        "train_images": train_data.num_examples,
        "best_val_accuracy": best.get(f"val_{ACCURACY}"),
        "best_epoch": int(best["epoch"]) + 1 if best else None,
        **runs.epoch_figures(history),
        "process_seconds": round(time.perf_counter() - start, 2),
        "steps": steps,
        "model_file": runs.MODEL,
    }
    run.finish(summary)
    return summary
