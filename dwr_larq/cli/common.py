"""What every ``dwr-larq`` command shares: one translation of library errors into one-line
messages, TensorFlow imported without its start-up noise, and the shared option types."""

from __future__ import annotations

import os
import sys

import click

# Counts that must be at least one (epochs, batch sizes, runs, input sides, ...).
POSITIVE_INT = click.IntRange(min=1)
# The datasets ``training.data.load`` reads, for every command's --dataset.
DATASET_HELP = ("digits (embedded, no download; digits:N-per-class keeps N labelled training images of each digit); fashion_mnist, mnist, cifar10, cifar100 (Keras' files: --data-dir, "
                "Keras' cache, Debian's dataset-fashion-mnist, or downloaded); imagenet2012 or any tensorflow-datasets "
                "name; or folder:PATH (one subfolder per class; train/ and test/ subfolders, or every fifth image held out).")
# Every command's --data-dir.
DATA_DIR_HELP = ("Where Keras' dataset files are looked for first (missing everywhere, they are downloaded) and "
                 "tensorflow-datasets are prepared (never downloaded).")


class CommandGroup(click.Group):
    """A click group whose commands may raise ``ValueError`` (the library's way of saying
    the input is wrong), ``LegacyKerasRequired`` (Keras 3 chosen by the environment) or a
    full disk: each becomes click's one-line ``Error: ...`` with no traceback."""

    def invoke(self, ctx):
        from dwr_larq.atomic import no_space_message, out_of_space, path_in
        from dwr_larq.legacy_keras import LegacyKerasRequired

        try:
            return super().invoke(ctx)
        except (ValueError, LegacyKerasRequired) as error:
            raise click.ClickException(str(error)) from None
        except Exception as error:  # noqa: BLE001  (TensorFlow's and h5py's write errors have many types)
            if not out_of_space(error):
                raise
            raise click.ClickException(no_space_message(path_in(error))) from None


def _trust_files(ctx, param, unsafe):
    if unsafe:
        from dwr_larq.models.loading import trusting_files

        ctx.with_resource(trusting_files())


# For commands that load whole model files a user may have got from anywhere.
UNSAFE_OPTION = click.option(
    "--unsafe", is_flag=True, expose_value=False, callback=_trust_files,
    help="Load model files even when loading them could run code (a Lambda layer, a class from another package, "
         "a SavedModel); only for files you trust.",
)


def quiet_tensorflow():
    """Import TensorFlow with its C++ start-up lines (CUDA factory registration, TensorRT
    probing on CPU-only machines) kept off the terminal, and its Python logger at ERROR.

    Commands call this before they need TensorFlow, so ``--help`` and ``list`` never do.
    """
    if "tensorflow" not in sys.modules:
        sys.stderr.flush()
        saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        try:
            import tensorflow  # noqa: F401
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    return tf
