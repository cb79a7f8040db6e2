"""Knowledge distillation with ReActNet's distributional loss, inside ``model.fit``.

``Distiller`` wraps a student and a frozen real-valued teacher; its ``train_step``
minimises KL(teacher softmax || student softmax), optionally mixed with the label
cross-entropy. Checkpoints of a ``Distiller`` hold the student only: the teacher is
fixed and is given again when a run resumes.

Under a ``tf.distribute`` strategy each replica averages its losses over the *global*
batch (``tf.nn.compute_average_loss``) and the replicas' gradients are summed, so the
update is the one a single device would make on the whole batch. Under a mixed
precision policy the losses are computed in float32 and ``optimizer.minimize`` applies
the loss scaling that Keras' ``compile`` put in place for ``mixed_float16``.
"""

from __future__ import annotations

import os

import tensorflow as tf

from dwr_larq.models import loading


def outputs_probabilities(model: tf.keras.Model) -> bool:
    """True when the model's last layer applies softmax (zoo and keras.applications default),
    looking inside a wrapped model (an application teacher with its preprocessing)."""
    last = model.layers[-1]
    if isinstance(last, tf.keras.Model):
        return outputs_probabilities(last)
    return getattr(last, "activation", None) is tf.keras.activations.softmax


def num_classes(model: tf.keras.Model) -> int:
    shape = model.output_shape
    if not isinstance(shape, tuple) or len(shape) != 2 or shape[-1] is None:
        raise ValueError(f"model {model.name!r} must output class scores [batch, classes], got shape {shape}")
    return int(shape[-1])


def application_weights(input_shape: tuple, classes: int):
    """``"imagenet"`` for a student of ImageNet's 1000 classes on RGB images (Keras
    downloads the application's weights once, with their hash), else None (random)."""
    return "imagenet" if classes == 1000 and input_shape[-1] == 3 else None


def application_teacher(name: str, input_shape: tuple, classes: int) -> tf.keras.Model:
    """``tf.keras.applications.<name>`` fed the pipelines' [-1, 1] images through its own
    ``preprocess_input`` (which expects [0, 255]), so ImageNet weights see what they were
    trained on."""
    weights = application_weights(input_shape, classes)
    network = getattr(tf.keras.applications, name)(weights=weights, input_shape=input_shape, classes=classes)
    module = next(
        (m for m in vars(tf.keras.applications).values() if getattr(m, name, None) is not None and hasattr(m, "preprocess_input")),
        None,
    )
    if module is None:
        return network
    inputs = tf.keras.Input(input_shape)
    pixels = tf.keras.layers.Rescaling(127.5, offset=127.5, name="to_0_255")(inputs)
    outputs = network(module.preprocess_input(pixels))
    return tf.keras.Model(inputs, outputs, name=f"teacher_{network.name}")


def load_teacher(teacher, input_shape: tuple, classes: int) -> tf.keras.Model:
    """A teacher from a Keras model, a saved model (file, folder or run folder), or a
    ``tf.keras.applications`` name. Application teachers get ImageNet weights for a
    1000-class RGB student (downloaded by Keras) and random weights otherwise, so for
    other datasets pass a trained saved model for a teacher that helps."""
    if isinstance(teacher, tf.keras.Model):
        model = teacher
    elif isinstance(teacher, (str, os.PathLike)) and os.path.exists(teacher):
        path = os.fspath(teacher)
        if os.path.isfile(os.path.join(path, "model.keras")):  # a dwr-larq run folder
            path = os.path.join(path, "model.keras")
        try:
            model = loading.load_model(path)
        except loading.UnsafeModelError:
            raise
        except (OSError, ValueError, IOError) as error:
            raise ValueError(f"teacher {path!r} is not a loadable Keras model: {error}") from None
    elif is_application(teacher):
        model = application_teacher(teacher, input_shape, classes)
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
        self.kl = tf.keras.losses.KLDivergence(reduction=tf.keras.losses.Reduction.NONE)
        from dwr_larq.training.loop import SparseCategoricalCrossentropyWithSmoothing

        self.cross_entropy = SparseCategoricalCrossentropyWithSmoothing(
            label_smoothing, reduction=tf.keras.losses.Reduction.NONE
        )
        self.loss_tracker = tf.keras.metrics.Mean(name="loss")

    @property
    def metrics(self):
        return [self.loss_tracker, *super().metrics]

    def call(self, inputs, training=False):
        return self.student(inputs, training=training)

    def teacher_probabilities(self, images):
        outputs = tf.cast(self.teacher(images, training=False), tf.float32)
        return tf.nn.softmax(outputs) if self.teacher_softmax else outputs

    def example_losses(self, labels, teacher_probs, student_probs):
        """The loss of every example in the batch (float32)."""
        student_probs = tf.cast(student_probs, tf.float32)
        loss = self.distill_weight * self.kl(teacher_probs, student_probs)
        if self.distill_weight < 1.0:
            loss += (1.0 - self.distill_weight) * self.cross_entropy(labels, student_probs)
        return loss

    def distillation_loss(self, labels, teacher_probs, student_probs):
        """The batch's mean loss."""
        return tf.reduce_mean(self.example_losses(labels, teacher_probs, student_probs))

    def train_step(self, data):
        images, labels = data
        teacher_probs = tf.stop_gradient(self.teacher_probabilities(images))
        with tf.GradientTape() as tape:
            student_probs = self.student(images, training=True)
            losses = self.example_losses(labels, teacher_probs, student_probs)
            regularization = tf.add_n(self.student.losses) if self.student.losses else 0.0
            loss = tf.nn.compute_average_loss(losses) + tf.nn.scale_regularization_loss(regularization)
        self.optimizer.minimize(loss, self.student.trainable_variables, tape=tape)
        self.loss_tracker.update_state(tf.reduce_mean(losses) + regularization)
        self.compiled_metrics.update_state(labels, student_probs)
        return {metric.name: metric.result() for metric in self.metrics}

    def test_step(self, data):
        images, labels = data
        student_probs = self.student(images, training=False)
        self.loss_tracker.update_state(tf.reduce_mean(self.cross_entropy(labels, student_probs)))
        self.compiled_metrics.update_state(labels, student_probs)
        return {metric.name: metric.result() for metric in self.metrics}

    # Checkpoints (ModelCheckpoint) hold the student, so they load into the student model.
    def save_weights(self, *args, **kwargs):
        return self.student.save_weights(*args, **kwargs)

    def load_weights(self, *args, **kwargs):
        return self.student.load_weights(*args, **kwargs)
