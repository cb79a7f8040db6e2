"""DWR's short pre-training of a spec: one phase of the project's training loop, the
network the width search reads (``dwr_larq.reshaping`` hands it to the method)."""

from __future__ import annotations

import tensorflow as tf

from dwr_larq.models.builder import build
from dwr_larq.models.spec import BackboneSpec
from dwr_larq.training.data import Pipeline
from dwr_larq.training.loop import Phase, accuracy_metric, fit_phases


def pretrain(
    spec: BackboneSpec,
    train_data,
    epochs: int,
    batch_size: int = 64,
    learning_rate: float = 1e-3,
    input_size=None,
    verbose=0,
    seed: int | None = 0,
    num_classes: int | None = None,
):
    """Short pre-training of a spec (Adam, cross-entropy), one phase of the project's
    training loop: the network the width search reads.

    ``train_data``: ``(images, labels)`` arrays (shuffled and batched here) or a batched
    ``tf.data.Dataset``. ``seed`` fixes initialisation and shuffling so a DWR run can be
    repeated; ``num_classes`` (default: the spec's) is the pre-training data's class count.
    """
    if seed is not None:
        tf.keras.utils.set_random_seed(seed)
    if isinstance(train_data, tuple):
        images, labels = train_data
        dataset = tf.data.Dataset.from_tensor_slices((images, labels)).shuffle(len(images), seed=seed)
        pipeline = Pipeline(dataset.batch(batch_size), len(images), num_classes or spec.head.num_classes, images.shape[1], batch_size)
        shape = images.shape[1:]
    else:
        batches = int(tf.data.experimental.cardinality(train_data))
        pipeline = Pipeline(train_data, max(batches, 1) * batch_size, num_classes or spec.head.num_classes, None, batch_size)
        shape = tuple(train_data.element_spec[0].shape[1:])
    size = input_size or shape[0] or spec.input_size
    model = build(spec, input_shape=(size, size, shape[-1] or 3), num_classes=num_classes)

    def prepare(previous, updates):
        model.compile(tf.keras.optimizers.Adam(learning_rate), "sparse_categorical_crossentropy", [accuracy_metric()])
        return model

    (phase,) = fit_phases([Phase("pretrain", epochs, prepare)], pipeline, verbose=verbose)
    return model, phase["history"]
