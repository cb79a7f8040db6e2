"""Training with plain Keras ``fit``: a zoo model (or card), a dataset, a recipe, a run folder.

    >>> from dwr_larq.training.train import train
    >>> summary = train("ResNet20DWR", dataset="digits", epochs=4, batch_size=64,
    ...                 recipe="reactnet", out="runs/resnet20dwr")

Everything that can be wrong with the arguments is checked before the run folder is
created. Running the same call again resumes a killed run (see ``dwr_larq.training.runs``).

``strategy`` picks the devices (``dwr_larq.training.strategy``): the model, its optimizer,
the teacher and the metrics are built under the strategy's scope, ``batch_size`` is the
global batch, and with more than one replica the batch norms are synchronized so a step
computes what one device would on the whole batch. ``describe`` (``--dry-run``) states
the whole plan without building or training anything.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass

import tensorflow as tf

from dwr_larq import zoo
from dwr_larq.checks import positive_number
from dwr_larq.training import clones, data, distill, lifecycle, precision, recipes
from dwr_larq.training import strategy as _strategy
from dwr_larq.training.loop import ACCURACY, Phase, accuracy_metric
from dwr_larq.zoo.cards import ModelCard


def _teacher_label(teacher) -> str | None:
    if teacher is None:
        return None
    if isinstance(teacher, tf.keras.Model):
        return f"keras-model:{teacher.name}"
    teacher = os.fspath(teacher)
    return os.path.abspath(teacher) if os.path.exists(teacher) else teacher


def compile_for_step(model, recipe: recipes.Recipe, step: recipes.Step, updates: int, teacher=None, **compile_options):
    """The model ``fit`` runs for one step: the student itself, or a ``Distiller``.
    ``compile_options``: Keras' ``jit_compile`` and ``steps_per_execution``."""
    optimizer = recipe.optimizer(step, updates)
    if teacher is None:
        model.compile(optimizer=optimizer, loss=recipe.loss(), metrics=[accuracy_metric()], **compile_options)
        return model
    distiller = distill.Distiller(
        model, teacher, distill_weight=recipe.distill_weight, label_smoothing=recipe.label_smoothing
    )
    distiller.compile(optimizer=optimizer, metrics=[accuracy_metric()], **compile_options)
    return distiller


@dataclass(frozen=True)
class Settings:
    """The numbers a run trains with, resolved from the arguments and the recipe."""

    recipe: recipes.Recipe  # with the learning rate it will use
    epochs: int
    step_epochs: list
    batch_size: int  # global
    scaled_learning_rate: bool  # True when the linear rule set the learning rate


def settings(recipe="reactnet", epochs=None, batch_size=None, learning_rate=None) -> Settings:
    """Resolve ``epochs``, ``batch_size`` (global) and the learning rate: given values win,
    then the recipe's own (the ImageNet recipes name the authors'). Without a given
    learning rate, a recipe with a reference batch scales its rate linearly with the
    global batch (``Recipe.learning_rate_for``)."""
    recipe_ = recipes.get_recipe(recipe)
    for value, default, what in ((epochs, recipe_.epochs, "epochs"), (batch_size, recipe_.reference_batch, "batch size")):
        if value is None and default is None:
            raise ValueError(f"recipe {recipe_.name!r} has no default {what}: give --{what.replace(' ', '-')}")
    epochs = recipe_.epochs if epochs is None else epochs
    batch_size = data.check_batch_size(recipe_.reference_batch if batch_size is None else batch_size)
    if learning_rate is not None:
        rate = positive_number(learning_rate, "learning rate")
    else:
        rate = recipe_.learning_rate_for(batch_size)
    return Settings(recipe_.replace(learning_rate=rate), epochs, recipe_.step_epochs(epochs), batch_size,
                    learning_rate is None and recipe_.reference_batch is not None)


def _check_teacher(recipe: recipes.Recipe, teacher) -> None:
    if teacher is None and recipe.teacher is not None:
        raise ValueError(
            f"recipe {recipe.name!r} distils from {recipe.teacher} (its loss is distillation only): give --teacher, "
            "a saved Keras model or a tf.keras.applications name such as ResNet50 (ImageNet weights download; "
            "keras.applications has no ResNet-34)"
        )


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


def plan(model, *, dataset, epochs=None, batch_size=None, recipe="reactnet", teacher=None, data_dir=None,
         input_size=None, learning_rate=None, seed=0, channels=None, mixed_precision: str | None = None) -> Plan:
    """Resolve and check every argument of ``train``; raises ``ValueError`` naming the problem.
    Models are built in the current strategy scope and dtype policy (``mixed_precision``
    names the policy, recorded in the config)."""
    chosen = settings(recipe, epochs, batch_size, learning_rate)
    _check_teacher(chosen.recipe, teacher)
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
        "epochs": chosen.epochs,
        "batch_size": chosen.batch_size,
        "input_size": size,
        "channels": channels,
        "recipe": chosen.recipe.name,
        "learning_rate": chosen.recipe.learning_rate,
        "teacher": _teacher_label(teacher),
        "seed": seed,
    }
    if mixed_precision is not None:  # only then: runs started before the option resume unchanged
        config["mixed_precision"] = mixed_precision
    return Plan(card, chosen.recipe, chosen.step_epochs, source, student, teacher_model, chosen.batch_size, size,
                channels, config)


def phases(plan: Plan, **compile_options) -> list:
    """The recipe's steps as training phases: each step trains its own view of the
    student (real or binary weights), starting from the previous step's weights."""

    def phase(step, count):
        def prepare(previous, updates):
            model = recipes.model_for_step(plan.student, step)
            if previous is not None:
                recipes.transfer_weights(getattr(previous, "student", previous), model)
            return compile_for_step(model, plan.recipe, step, updates, plan.teacher, **compile_options)

        return Phase(step.name, count, prepare, {"binary_weights": step.binary_weights})

    return [phase(step, count) for step, count in zip(plan.recipe.steps, plan.step_epochs)]


def describe(model: str, *, dataset: str, epochs: int | None = None, batch_size: int | None = None,
             recipe: str = "reactnet", teacher=None, data_dir=None, input_size: int | None = None,
             learning_rate: float | None = None, strategy: str = "auto", mixed_precision=None,
             jit_compile: bool = False, steps_per_execution: int = 1) -> dict:
    """The whole plan of a ``train`` call, without building a model or reading an image:
    what ``--dry-run`` prints, so a GPU-days job can be checked before it starts."""
    chosen = settings(recipe, epochs, batch_size, learning_rate)
    card = zoo.get_card(model)
    compile_options = lifecycle.check_compile_options(jit_compile, steps_per_execution)
    distribution = _strategy.resolve(strategy)
    per_replica = distribution.per_replica_batch(chosen.batch_size)
    try:
        train_images = data.source(dataset, data_dir, image_size=input_size or card.spec.input_size).num_examples["train"]
        images_from = dataset
    except ValueError:
        if chosen.recipe.train_images is None or dataset != chosen.recipe.dataset:
            raise
        train_images, images_from = chosen.recipe.train_images, f"the recipe ({dataset} is not prepared here)"
    reference = recipes.get_recipe(recipe)
    if learning_rate is not None:
        rule = "given"
    elif chosen.scaled_learning_rate:
        rule = f"{reference.learning_rate:g} x {chosen.batch_size} / {reference.reference_batch} (linear scaling)"
    else:
        rule = "the recipe's (no reference batch: not scaled)"
    return {
        "model": card.name,
        "dataset": dataset,
        "recipe": chosen.recipe.name,
        "source": chosen.recipe.source or None,
        "steps": [
            # A full-precision spec has no quantizers: its weights stay real-valued in every step.
            {"name": step.name, "epochs": count, "binary_weights": step.binary_weights and card.spec.precision != "float",
             "weight_decay": step.weight_decay}
            for step, count in zip(chosen.recipe.steps, chosen.step_epochs)
        ],
        "epochs": chosen.epochs,
        "global_batch": chosen.batch_size,
        "per_replica_batch": per_replica,
        "learning_rate": chosen.recipe.learning_rate,
        "learning_rate_rule": rule,
        "schedule": f"{chosen.recipe.schedule} decay to 0 over each step",
        "optimizer": (f"SGD with momentum {chosen.recipe.momentum}" if chosen.recipe.momentum is not None
                      else "Adam (AdamW where a step has weight decay)"),
        "label_smoothing": chosen.recipe.label_smoothing,
        "lighting": chosen.recipe.lighting,
        "teacher": _teacher_label(teacher),
        "recipe_teacher": chosen.recipe.teacher,
        "distill_weight": chosen.recipe.distill_weight if teacher is not None else None,
        **distribution.describe(),
        "mixed_precision": precision.policy_name(mixed_precision, distribution.device),
        **{"jit_compile": False, "steps_per_execution": 1, **compile_options},
        "train_images": train_images,
        "train_images_from": images_from,
        "steps_per_epoch": math.ceil(train_images / chosen.batch_size),
        "total_steps": math.ceil(train_images / chosen.batch_size) * chosen.epochs,
    }


def train(model: str, *, dataset: str, epochs: int | None = None, batch_size: int | None = None, out,
          recipe: str = "reactnet", teacher=None, data_dir=None, input_size: int | None = None,
          learning_rate: float | None = None, seed: int = 0, verbose="auto", channels: int | None = None,
          strategy: str = "auto", mixed_precision=None, jit_compile: bool = False, steps_per_execution: int = 1) -> dict:
    """Train zoo model (or card file) ``model`` and return the run's summary.

    Args:
        model: a zoo name such as ``"ResNet18CIFARDWR"`` or a card ``.json`` path.
        dataset: ``digits``, ``folder:PATH`` or a tensorflow-datasets name.
        epochs: total epochs, split over the recipe's steps (default: the recipe's, if it has one).
        batch_size: the global batch (default: the recipe's reference batch, if it has one).
        out: the run directory (created, or resumed when it holds this same run).
        teacher: optional distillation teacher (see ``dwr_larq.training.distill.load_teacher``).
        learning_rate: overrides the recipe's peak learning rate and its linear scaling.
        strategy: ``one``, ``auto``, ``mirrored``, ``multiworker`` or ``tpu`` (``training.strategy``).
        mixed_precision: None, ``"auto"`` or a mixed policy name (``training.precision``).
        jit_compile, steps_per_execution: passed to Keras ``compile``.
    """
    devices_ = lifecycle.devices(strategy, mixed_precision, jit_compile, steps_per_execution)
    distribution, policy, compile_options = devices_.distribution, devices_.policy, devices_.compile_options
    arguments = dict(dataset=dataset, epochs=epochs, batch_size=batch_size, recipe=recipe, teacher=teacher,
                     data_dir=data_dir, input_size=input_size, learning_rate=learning_rate, seed=seed, channels=channels)
    distribution.per_replica_batch(settings(recipe, epochs, batch_size, learning_rate).batch_size)

    def prepare() -> lifecycle.Job:
        tf.keras.utils.set_random_seed(seed)  # the same initial weights on every worker and every strategy
        plan_ = plan(model, mixed_precision=policy, **arguments)
        if distribution.replicas > 1:
            plan_.student = clones.synchronize_batch_norms(plan_.student)
        return lifecycle.Job(
            name=plan_.card.name, model=plan_.student, phases=phases(plan_, **compile_options), config=plan_.config,
            source=plan_.source, batch_size=plan_.batch_size, image_size=plan_.image_size, channels=plan_.channels,
            planned_epochs=plan_.config["epochs"], augmentation=_policy(plan_),
            identity={"model": plan_.card.name, "dataset": dataset, "recipe": plan_.recipe.name},
            from_history=lambda history: _best_epoch(history, plan_.step_epochs),
            closing=({"distribution": {**distribution.describe(), "mixed_precision": policy, **compile_options}}
                     if distribution.name != "one" or policy or compile_options else {}),
        )

    return lifecycle.run(out, devices_, prepare, seed=seed, verbose=verbose)


def _best_epoch(history: list, step_epochs: list) -> dict:
    """The final step's best validation accuracy and its epoch (1-based)."""
    final_rows = [row for row in history if row["epoch"] >= sum(step_epochs[:-1])]
    best = max(final_rows, key=lambda row: row.get(f"val_{ACCURACY}", -1.0), default={})
    return {"best_val_accuracy": best.get(f"val_{ACCURACY}"), "best_epoch": int(best["epoch"]) + 1 if best else None}


def _policy(plan_: Plan):
    """The source's augmentation with the recipe's lighting added (Inception crops only)."""
    policy = plan_.source.policy
    if plan_.recipe.lighting and policy.kind == data.Crop.INCEPTION:
        return dataclasses.replace(policy, lighting=plan_.recipe.lighting)
    return policy
