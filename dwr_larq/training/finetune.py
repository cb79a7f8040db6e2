"""Transfer learning: a pretrained zoo backbone with a new head, fitted on your classes.

    >>> from dwr_larq.training.finetune import finetune
    >>> finetune("ResNet20DWR", weights="cifar10", dataset="folder:photos", out="runs/photos")

Two steps, as the Keras transfer-learning guide does them: the backbone is frozen
while the new head learns (``epochs``), then everything but the batch-norm layers
is unfrozen and trained on at a lower learning rate (``fine_tune_epochs``). Batch
norms stay in inference mode throughout, keeping the statistics the binary
backbone was trained with. The new head is the zoo's own (average pooling,
``logits``, softmax), so the result is ``get_model(NAME, num_classes=K)`` with other
weights: ``dwr-larq export-weights`` publishes it like any training run.

The run folder is the one ``dwr-larq train`` writes (``dwr_larq.training.runs``): a killed
run resumes, ``dwr-larq evaluate`` reads it.
"""

from __future__ import annotations

import os

import tensorflow as tf

from dwr_larq import zoo
from dwr_larq.checks import positive_int, positive_number
from dwr_larq.models import builder
from dwr_larq.training import clones, data, lifecycle
from dwr_larq.training.loop import Phase, accuracy_metric

STEPS = ("head", "finetune")


def _weights_label(weights) -> str:
    weights = os.fspath(weights)
    return os.path.abspath(weights) if os.path.exists(weights) or os.path.exists(weights + ".index") else weights


def set_backbone_trainable(backbone: tf.keras.Model, trainable: bool) -> None:
    """Freeze the backbone, or unfreeze all of it but its batch norms (nested ones too)."""
    backbone.trainable = trainable
    if trainable:
        for module in backbone.submodules:
            if isinstance(module, tf.keras.layers.BatchNormalization):
                module.trainable = False


def build_model(card, weights, num_classes: int, image_size: int, channels: int = 3):
    """``(model, backbone)``: the card's backbone with ``weights`` and a new zoo head."""
    backbone = zoo.build_from_card(card, input_shape=(image_size, image_size, channels), include_top=False, weights=weights)
    outputs = builder.head(backbone.output, card.spec, num_classes, "softmax")
    return tf.keras.Model(backbone.input, outputs, name=card.name), backbone


def _phase(name: str, epochs: int, network, backbone, *, trainable: bool, learning_rate: float,
           compile_options: dict) -> Phase:
    """One step of transfer learning: the whole network, its backbone frozen or not."""

    def prepare(previous, updates):
        set_backbone_trainable(backbone, trainable)
        network.compile(
            optimizer=tf.keras.optimizers.Adam(learning_rate),
            loss=tf.keras.losses.SparseCategoricalCrossentropy(),
            metrics=[accuracy_metric()],
            **compile_options,
        )
        return network

    return Phase(name, epochs, prepare, {"backbone_trainable": trainable, "learning_rate": learning_rate})


def finetune(model: str, *, weights, dataset: str, out, num_classes: int | None = None, epochs: int = 5,
             fine_tune_epochs: int = 5, batch_size: int = 32, learning_rate: float = 1e-3,
             fine_tune_learning_rate: float | None = None, input_size: int | None = None, data_dir=None,
             seed: int = 0, verbose="auto", strategy: str = "auto", mixed_precision=None, jit_compile: bool = False,
             steps_per_execution: int = 1) -> dict:
    """Fine-tune zoo model (or card file) ``model`` from pretrained ``weights`` on ``dataset``.

    Args:
        weights: a weights tag on the card (downloaded and verified) or a weights file.
        dataset: ``folder:PATH`` (one subfolder per class), ``digits`` or a prepared tfds name.
        num_classes: the new head's classes; must match the data's when given.
        epochs: epochs with the backbone frozen (the head learns).
        fine_tune_epochs: epochs with the backbone unfrozen (0 skips the step).
        fine_tune_learning_rate: default ``learning_rate / 10``.
        strategy, mixed_precision, jit_compile, steps_per_execution: as for ``train``.
    Returns the run's summary (also written to ``out/summary.json``).
    """
    devices_ = lifecycle.devices(strategy, mixed_precision, jit_compile, steps_per_execution)
    distribution, compile_options = devices_.distribution, devices_.compile_options
    card = zoo.get_card(model)
    if weights is None:
        raise ValueError("fine-tuning needs pretrained weights (a tag or a file); to train from scratch use `dwr-larq train`")
    epochs = positive_int(epochs, "epochs")
    fine_tune_epochs = positive_int(fine_tune_epochs, "fine-tune epochs", 0)
    learning_rate = positive_number(learning_rate, "learning rate")
    fine_tune_learning_rate = positive_number(
        learning_rate / 10 if fine_tune_learning_rate is None else fine_tune_learning_rate, "fine-tune learning rate"
    )
    batch_size = data.check_batch_size(batch_size)
    distribution.per_replica_batch(batch_size)
    entry = card.weights.get(os.fspath(weights)) if isinstance(weights, (str, os.PathLike)) else None
    size = input_size or (entry.input_size if entry else None) or card.spec.input_size
    # The backbone keeps the channels its weights were trained with: grey Fashion-MNIST
    # weights fine-tune on grey images (colour datasets are converted).
    channels = entry.channels if entry else 3
    source = data.source(dataset, data_dir, image_size=size)
    if num_classes is not None and num_classes != source.num_classes:
        raise ValueError(f"--num-classes is {num_classes} but dataset {dataset!r} has {source.num_classes} classes")
    config = {
        "task": "finetune",
        "model": card.name,
        "spec": card.spec.to_dict(),
        "weights": _weights_label(weights),
        "dataset": dataset,
        "data_dir": os.path.abspath(data_dir) if data_dir else None,
        "num_classes": source.num_classes,
        "epochs": epochs,
        "fine_tune_epochs": fine_tune_epochs,
        "batch_size": batch_size,
        "input_size": size,
        "channels": channels,
        "learning_rate": learning_rate,
        "fine_tune_learning_rate": fine_tune_learning_rate,
        "seed": seed,
    }
    if devices_.policy is not None:
        config["mixed_precision"] = devices_.policy

    def prepare() -> lifecycle.Job:
        tf.keras.utils.set_random_seed(seed)  # the new head starts the same whatever ran before in the process
        network, backbone = build_model(card, weights, source.num_classes, size, channels)
        if distribution.replicas > 1:
            network = clones.synchronize_batch_norms(network)
            backbone = tf.keras.Model(network.input, network.get_layer(backbone.layers[-1].name).output)
        phases = [
            _phase(STEPS[0], epochs, network, backbone, trainable=False, learning_rate=learning_rate,
                   compile_options=compile_options),
            _phase(STEPS[1], fine_tune_epochs, network, backbone, trainable=True,
                   learning_rate=fine_tune_learning_rate, compile_options=compile_options),
        ]
        return lifecycle.Job(
            name=card.name, model=network, phases=phases, config=config, source=source, batch_size=batch_size,
            image_size=size, channels=channels, planned_epochs=epochs + fine_tune_epochs,
            identity={"task": "finetune", "model": card.name, "weights": config["weights"], "dataset": dataset,
                      "num_classes": source.num_classes},
        )

    return lifecycle.run(out, devices_, prepare, seed=seed, verbose=verbose)
