"""Training recipes as data: optimizer, schedule, label smoothing, weight decay, steps.

- ``bireal``: one step, binary weights and activations, Adam with cosine decay
  (Liu et al., Bi-Real Net, ECCV 2018; larq-zoo's schedule), no weight decay.
- ``reactnet``: two steps (Liu et al., ReActNet, ECCV 2020). Step 1 trains binary
  activations with real-valued weights and a light weight decay; step 2 binarizes
  the weights too, starts from step 1's weights and uses no weight decay. Adam with
  linear decay in each step.
- ``reactnet_imagenet`` and ``bireal_imagenet``: the DWR authors' ImageNet ResNet-18
  settings, with their numbers on the recipe (``source``).
- ``sgd_cifar``: the DWR authors' CIFAR-10 settings: one step, SGD with momentum,
  cosine decay, weight decay, plain cross-entropy.

Recipes that name a ``reference_batch`` (the ImageNet ones) scale their learning rate
linearly with the global batch: ``learning_rate * batch / reference_batch`` (Goyal et
al., 2017), unless a learning rate is given. ``bireal`` and ``reactnet`` name none: their
learning rates were set for small datasets and are used as they are at every batch.

A step with ``binary_weights=False`` trains ``with_real_weights(model)``: the same
architecture (same layer names) whose quantized layers keep their input quantizer
but have no kernel quantizer or clip, so weights can be moved between the two
models by name (``transfer_weights``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from enum import StrEnum

from dwr_larq.checks import member, positive_int

# Variables that weight decay must not touch: BN, biases, RSign/RPReLU shifts, PReLU slopes.
NO_DECAY = ("gamma", "beta", "bias", "shift", "alpha")


@dataclass(frozen=True)
class Step:
    """One ``fit`` of a recipe: ``share`` of the run's epochs."""

    name: str
    binary_weights: bool
    share: float
    weight_decay: float = 0.0


class Schedule(StrEnum):
    """How the learning rate decays to zero over each step."""

    COSINE = "cosine"
    LINEAR = "linear"


@dataclass(frozen=True)
class Recipe:
    name: str
    learning_rate: float
    schedule: Schedule
    label_smoothing: float
    steps: tuple
    # With a teacher: loss = distill_weight * KL(teacher || student) + (1 - distill_weight) * CE.
    distill_weight: float = 1.0
    reference_batch: int | None = None  # the global batch ``learning_rate`` was set for
    epochs: int | None = None  # the authors' total, the default when none is given
    dataset: str | None = None  # what the numbers are for
    train_images: int | None = None  # that dataset's training split, for plans made without it
    teacher: str | None = None  # the teacher the authors distilled from (a description)
    lighting: float = 0.0  # AlexNet-style PCA lighting noise (standard deviation), Inception crops only
    momentum: float | None = None  # SGD with this momentum; None: Adam
    source: str = ""  # where the numbers come from

    def __post_init__(self):
        object.__setattr__(self, "schedule", member(Schedule, self.schedule, f"recipe {self.name!r}: schedule"))

    def learning_rate_for(self, batch_size: int) -> float:
        """The peak learning rate at global batch ``batch_size`` (the linear scaling rule)."""
        if self.reference_batch is None:
            return self.learning_rate
        return self.learning_rate * batch_size / self.reference_batch

    def replace(self, **changes) -> Recipe:
        return dataclasses.replace(self, **changes)

    def step_epochs(self, epochs: int) -> list:
        """Split ``epochs`` over the steps; every step gets at least one epoch."""
        positive_int(epochs, f"recipe {self.name!r} has {len(self.steps)} step(s): epochs", len(self.steps))
        counts = [max(1, math.floor(epochs * step.share)) for step in self.steps[:-1]]
        return [*counts, epochs - sum(counts)]

    def schedule_for(self, steps: int):
        """The learning rate over ``steps`` optimizer updates."""
        import tensorflow as tf

        if self.schedule == Schedule.COSINE:
            return tf.keras.optimizers.schedules.CosineDecay(self.learning_rate, decay_steps=steps)
        return tf.keras.optimizers.schedules.PolynomialDecay(self.learning_rate, decay_steps=steps, end_learning_rate=0.0)

    def optimizer(self, step: Step, updates: int):
        """Adam, or AdamW (decoupled decay on kernels only) when the step has weight decay;
        SGD with momentum when the recipe names one (its decay also spares BN, biases,
        shifts and slopes; the authors' PyTorch SGD decayed every parameter)."""
        import tensorflow as tf

        schedule = self.schedule_for(updates)
        if self.momentum is not None:
            optimizer = tf.keras.optimizers.SGD(schedule, momentum=self.momentum, weight_decay=step.weight_decay or None)
            if step.weight_decay:
                optimizer.exclude_from_weight_decay(var_names=list(NO_DECAY))
            return optimizer
        if not step.weight_decay:
            return tf.keras.optimizers.Adam(schedule)
        optimizer = tf.keras.optimizers.AdamW(schedule, weight_decay=step.weight_decay)
        optimizer.exclude_from_weight_decay(var_names=list(NO_DECAY))
        return optimizer

    def loss(self):
        """Cross-entropy on the models' softmax outputs, with label smoothing."""
        from dwr_larq.training.loop import SparseCategoricalCrossentropyWithSmoothing

        return SparseCategoricalCrossentropyWithSmoothing(self.label_smoothing)


RECIPES = {
    "bireal": Recipe(
        "bireal", learning_rate=2e-3, schedule="cosine", label_smoothing=0.1, steps=(Step("train", True, 1.0),)
    ),
    "reactnet": Recipe(
        "reactnet",
        learning_rate=5e-4,
        schedule="linear",
        label_smoothing=0.1,
        steps=(Step("step1", False, 0.5, weight_decay=5e-6), Step("step2", True, 0.5)),
    ),
    "reactnet_imagenet": Recipe(
        "reactnet_imagenet",
        learning_rate=1e-3,
        schedule="cosine",
        label_smoothing=0.0,
        steps=(Step("step1", False, 0.5, weight_decay=1e-5), Step("step2", True, 0.5)),
        distill_weight=1.0,
        reference_batch=512,
        epochs=512,
        dataset="imagenet2012",
        train_images=1_281_167,
        teacher="a real-valued ResNet-34 (torchvision's pretrained resnet34)",
        lighting=0.1,
        source=(
            "Xue et al., AAAI 2023, code github.com/pingxue-hfut/DWR ImageNet/resnet-18+reactnet+2-step "
            "(1_step1/run.sh, 2_step2/run.sh, train.py): 256 + 256 epochs, batch 512, Adam 1e-3, cosine decay "
            "to 0, weight decay 1e-5 in step 1 and 0 in step 2, KD-only loss from a real-valued ResNet-34, "
            "random resized crop (scale 0.08-1), lighting 0.1, flip"
        ),
    ),
    "bireal_imagenet": Recipe(
        "bireal_imagenet",
        learning_rate=1e-3,
        schedule="cosine",
        label_smoothing=0.0,
        steps=(Step("train", True, 1.0),),
        reference_batch=512,
        epochs=128,
        dataset="imagenet2012",
        train_images=1_281_167,
        lighting=0.1,
        source=(
            "Xue et al., AAAI 2023, code github.com/pingxue-hfut/DWR ImageNet/resnet-18/train.py: 128 epochs, "
            "batch 512, Adam 1e-3, cosine decay to 0, cross-entropy, random resized crop (scale 0.08-1), "
            "lighting 0.1, flip"
        ),
    ),
    "sgd_cifar": Recipe(
        "sgd_cifar",
        learning_rate=0.1,
        schedule="cosine",
        label_smoothing=0.0,
        steps=(Step("train", True, 1.0, weight_decay=1e-4),),
        momentum=0.9,
        reference_batch=128,
        epochs=400,
        dataset="cifar10",
        train_images=50_000,
        source=(
            "Xue et al., AAAI 2023, code github.com/pingxue-hfut/DWR CIFAR-10/ResNet-20/trainer.py and "
            "VGG-Small&VGG-11/main.py: SGD momentum 0.9, lr 0.1 at batch 128 (0.08 for ResNet-18, "
            "CIFAR-10/ResNet-18/trainer.py), cosine decay to 0, weight decay 1e-4, cross-entropy only, "
            "pad-4 random crop and flip; 400 epochs for ResNet-20 and VGG, 600 for ResNet-18"
        ),
    ),
}


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; known recipes: {', '.join(RECIPES)}")
    return RECIPES[name]


def _real_weights(layer, config: dict) -> dict:
    if config.get("kernel_quantizer") is not None:
        config.update(kernel_quantizer=None, kernel_constraint=None)
    return config


def with_real_weights(model):
    """A fresh copy of ``model`` whose quantized layers keep their input quantizer
    (binary activations) but have real-valued, unclipped weights: ReActNet's step 1. It
    starts from ``model``'s weights, so a seeded run starts from the same weights
    whatever else drew random numbers (another strategy's copies, for instance)."""
    from dwr_larq.training.clones import rebuild

    return rebuild(model, _real_weights)


def transfer_weights(source, target) -> None:
    """Copy every layer's weights from ``source`` to the layer of the same name in ``target``."""
    source_layers = {layer.name: layer for layer in source.layers}
    missing = [layer.name for layer in target.layers if layer.weights and layer.name not in source_layers]
    if missing:
        raise ValueError(f"cannot transfer weights: layer(s) {missing[:5]} have no counterpart in {source.name!r}")
    for layer in target.layers:
        if layer.weights:
            layer.set_weights(source_layers[layer.name].get_weights())


def model_for_step(model, step: Step):
    """The model a step trains: ``model`` itself, or its real-weight twin."""
    return model if step.binary_weights else with_real_weights(model)
