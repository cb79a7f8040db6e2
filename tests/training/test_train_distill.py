"""Distillation: the Distiller's loss and train_step, and teacher loading."""

import numpy as np
import pytest
import tensorflow as tf

from dwr_larq import BackboneSpec, StemSpec, build
from dwr_larq.training import distill


def student(classes=4):
    spec = BackboneSpec(block="basic", depths=[1], widths=[8], strides=[1], stem=StemSpec(width=8), input_size=8)
    return build(spec, num_classes=classes)


def teacher(classes=4, logits=False):
    inputs = tf.keras.Input((8, 8, 3))
    x = tf.keras.layers.Flatten()(inputs)
    outputs = tf.keras.layers.Dense(classes, activation=None if logits else "softmax", name="teacher_out")(x)
    return tf.keras.Model(inputs, outputs, name="teacher")


def batch(rng, n=16):
    return rng.normal(0, 1, (n, 8, 8, 3)).astype(np.float32), rng.integers(0, 4, n).astype(np.int32)


def kl(p, q):
    return float(np.mean(np.sum(p * np.log(p / q), axis=-1)))


def test_loss_is_kl_from_teacher_to_student_optionally_mixed_with_cross_entropy():
    p = np.array([[0.7, 0.1, 0.1, 0.1], [0.25, 0.25, 0.25, 0.25]], np.float32)
    q = np.array([[0.4, 0.3, 0.2, 0.1], [0.1, 0.2, 0.3, 0.4]], np.float32)
    labels = np.array([0, 3])
    pure = distill.Distiller(student(), teacher())
    assert float(pure.distillation_loss(labels, p, q)) == pytest.approx(kl(p, q), rel=1e-5)
    mixed = distill.Distiller(student(), teacher(), distill_weight=0.5)
    cross_entropy = -np.mean(np.log(q[[0, 1], labels]))
    assert float(mixed.distillation_loss(labels, p, q)) == pytest.approx(0.5 * kl(p, q) + 0.5 * cross_entropy, rel=1e-5)


@pytest.mark.parametrize("logits", [False, True])
def test_train_step_moves_the_student_towards_a_frozen_teacher(rng, logits):
    images, labels = batch(rng)
    frozen = teacher(logits=logits)
    frozen.get_layer("teacher_out").kernel.assign(rng.normal(0, 0.3, (192, 4)))
    model = student()
    distiller = distill.Distiller(model, frozen)
    distiller.compile(optimizer=tf.keras.optimizers.Adam(1e-2), metrics=[tf.keras.metrics.SparseCategoricalAccuracy("accuracy")])
    teacher_weights = [w.copy() for w in frozen.get_weights()]
    target = frozen(images).numpy()
    target = tf.nn.softmax(target).numpy() if logits else target
    before = kl(target, model(images, training=False).numpy())
    for _ in range(30):
        logs = distiller.train_step((tf.constant(images), tf.constant(labels)))
    assert set(logs) == {"loss", "accuracy"}
    assert kl(target, model(images, training=False).numpy()) < before / 2
    for old, new in zip(teacher_weights, frozen.get_weights()):
        np.testing.assert_array_equal(old, new)


def test_fit_and_checkpoints_hold_the_student(tmp_path, rng):
    images, labels = batch(rng, 32)
    model = student()
    distiller = distill.Distiller(model, teacher())
    distiller.compile(optimizer="adam", metrics=[tf.keras.metrics.SparseCategoricalAccuracy("accuracy")])
    history = distiller.fit(images, labels, batch_size=8, epochs=1, validation_data=(images, labels), verbose=0)
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(history.history)
    distiller.save_weights(str(tmp_path / "weights"))
    fresh = student()
    fresh.load_weights(str(tmp_path / "weights"))
    np.testing.assert_allclose(fresh(images[:4]), model(images[:4]), atol=1e-6)


def test_teacher_class_count_must_match():
    with pytest.raises(ValueError, match="predicts 10 classes but the student predicts 4"):
        distill.Distiller(student(4), teacher(10))
    with pytest.raises(ValueError, match="predicts 10 classes but the student predicts 4"):
        distill.load_teacher(teacher(10), (8, 8, 3), 4)


def test_teachers_from_saved_models_and_keras_applications(tmp_path):
    saved = teacher()
    saved.save(str(tmp_path / "teacher.keras"))
    assert distill.load_teacher(str(tmp_path / "teacher.keras"), (8, 8, 3), 4).output_shape == (None, 4)
    app = distill.load_teacher("MobileNetV2", (32, 32, 3), 10)  # weights=None: nothing is downloaded
    assert app.output_shape == (None, 10) and distill.outputs_probabilities(app)
    with pytest.raises(ValueError, match="neither an existing saved Keras model nor a tf.keras.applications name"):
        distill.load_teacher("NoSuchNet", (8, 8, 3), 4)
    (tmp_path / "broken.keras").write_text("not a model")
    with pytest.raises(ValueError, match="is not a loadable Keras model"):
        distill.load_teacher(str(tmp_path / "broken.keras"), (8, 8, 3), 4)
