"""Knowledge distillation with ReActNet's distributional loss, inside ``model.fit``.

``Distiller`` wraps a student and a frozen real-valued teacher; its ``train_step``
minimises KL(teacher softmax || student softmax), optionally mixed with the label
cross-entropy. Checkpoints of a ``Distiller`` hold the student only: the teacher is
fixed and is given again when a run resumes.
"""

from __future__ import annotations

import os

import tensorflow as tf


def outputs_probabilities(model: tf.keras.Model) -> bool:
    """True when the model's last layer applies softmax (zoo and keras.applications default)."""
    return getattr(model.layers[-1], "activation", None) is tf.keras.activations.softmax


def num_classes(model: tf.keras.Model) -> int:
    shape = model.output_shape
    if not isinstance(shape, tuple) or len(shape) != 2 or shape[-1] is None:
        raise ValueError(f"model {model.name!r} must output class scores [batch, classes], got shape {shape}")
    return int(shape[-1])


def load_teacher(teacher, input_shape: tuple, classes: int) -> tf.keras.Model:
    """A teacher from a Keras model, a saved model (file, folder or run folder), or a
    ``tf.keras.applications`` name. Application teachers are built with
    ``weights=None`` (random): nothing is downloaded here, so pass a trained saved
    model for a teacher that helps."""
    if isinstance(teacher, tf.keras.Model):
        model = teacher
    elif isinstance(teacher, (str, os.PathLike)) and os.path.exists(teacher):
        path = os.fspath(teacher)
        if os.path.isfile(os.path.join(path, "model.keras")):  # a dwr-larq run folder
            path = os.path.join(path, "model.keras")
        try:
            model = tf.keras.models.load_model(path, compile=False)
        except (OSError, ValueError, IOError) as error:
            raise ValueError(f"teacher {path!r} is not a loadable Keras model: {error}") from None
    elif is_application(teacher):
        model = getattr(tf.keras.applications, teacher)(weights=None, input_shape=input_shape, classes=classes)
    else:
        raise ValueError(
            f"teacher {teacher!r} is neither an existing saved Keras model nor a tf.keras.applications "
            f"name (e.g. ResNet50, MobileNetV2)"
        )
    if num_classes(model) != classes:
        raise ValueError(
            f"teacher {model.name!r} predicts {num_classes(model)} classes but the student predicts {classes}: "
            "distillation needs the same classes"
        )
    return model


def is_application(name) -> bool:
    """True for a ``tf.keras.applications`` model name such as ``"ResNet50"``."""
    return isinstance(name, str) and name[:1].isupper() and callable(getattr(tf.keras.applications, name, None))


class Distiller(tf.keras.Model):
    """Trains ``student`` towards ``teacher``'s class distribution.

    loss = distill_weight * KL(teacher || student) + (1 - distill_weight) * CE(labels).
    The student must output probabilities (softmax); the teacher may output logits
    or probabilities. ``call`` and evaluation run the student alone.
    """

    def __init__(self, student, teacher, distill_weight: float = 1.0, label_smoothing: float = 0.0, **kwargs):
        super().__init__(name=kwargs.pop("name", f"distill_{student.name}"), **kwargs)
        if not outputs_probabilities(student):
            raise ValueError(f"student {student.name!r} must end in a softmax (classifier_activation='softmax')")
        if num_classes(teacher) != num_classes(student):
            raise ValueError(
                f"teacher {teacher.name!r} predicts {num_classes(teacher)} classes but the student predicts "
                f"{num_classes(student)}: distillation needs the same classes"
            )
        if not 0.0 <= distill_weight <= 1.0:
            raise ValueError(f"distill_weight must be in [0, 1], got {distill_weight}")
        self.student = student
        self.teacher = teacher
        self.teacher.trainable = False
        self.distill_weight = distill_weight
        self.teacher_softmax = not outputs_probabilities(teacher)
        self.kl = tf.keras.losses.KLDivergence()
        from dwr_larq.training.loop import SparseCategoricalCrossentropyWithSmoothing

        self.cross_entropy = SparseCategoricalCrossentropyWithSmoothing(label_smoothing)
        self.loss_tracker = tf.keras.metrics.Mean(name="loss")

    @property
    def metrics(self):
        return [self.loss_tracker, *super().metrics]

    def call(self, inputs, training=False):
        return self.student(inputs, training=training)

    def teacher_probabilities(self, images):
        outputs = self.teacher(images, training=False)
        return tf.nn.softmax(outputs) if self.teacher_softmax else outputs

    def distillation_loss(self, labels, teacher_probs, student_probs):
        loss = self.distill_weight * self.kl(teacher_probs, student_probs)
        if self.distill_weight < 1.0:
            loss += (1.0 - self.distill_weight) * self.cross_entropy(labels, student_probs)
        return loss

    def train_step(self, data):
        images, labels = data
        teacher_probs = tf.stop_gradient(self.teacher_probabilities(images))
        with tf.GradientTape() as tape:
            student_probs = self.student(images, training=True)
            loss = self.distillation_loss(labels, teacher_probs, student_probs)
            loss += tf.add_n(self.student.losses) if self.student.losses else 0.0
        variables = self.student.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        self.loss_tracker.update_state(loss)
        self.compiled_metrics.update_state(labels, student_probs)
        return {metric.name: metric.result() for metric in self.metrics}

    def test_step(self, data):
        images, labels = data
        student_probs = self.student(images, training=False)
        self.loss_tracker.update_state(self.cross_entropy(labels, student_probs))
        self.compiled_metrics.update_state(labels, student_probs)
        return {metric.name: metric.result() for metric in self.metrics}

    # Checkpoints (ModelCheckpoint) hold the student, so they load into the student model.
    def save_weights(self, *args, **kwargs):
        return self.student.save_weights(*args, **kwargs)

    def load_weights(self, *args, **kwargs):
        return self.student.load_weights(*args, **kwargs)
