import os

import numpy as np
import pytest

from dwr_larq import atomic, zoo
from dwr_larq.deploy import convert
from dwr_larq.models import costs

from conftest import randomize_batch_norms


@pytest.mark.parametrize("name", zoo.list_models())
def test_every_binary_conv_becomes_an_lce_bconv2d(name, tmp_path):
    side = zoo.get_card(name).spec.downsampling
    model = zoo.get_model(name, input_shape=(side, side, 3))
    report = convert.convert(model, tmp_path / f"{name}.tflite")
    assert report.binary_convs == len(costs.binary_conv_layers(model)) > 0
    # Every binary conv reads from a sign, so no float conv is left in the binary part.
    assert report.op_counts["LceQuantize"] >= 1
    assert (tmp_path / f"{name}.tflite").stat().st_size == report.size_bytes


@pytest.mark.parametrize("name", ["ResNet18DWR", "ReActResNet18DWR", "ResNet20DWR", "VGGSmallDWR"])
def test_lce_interpreter_agrees_with_keras(name, rng, tmp_path):
    side = 2 * zoo.get_card(name).spec.downsampling
    model = zoo.get_model(name, input_shape=(side, side, 3))
    randomize_batch_norms(model, rng)
    flatbuffer = convert.to_flatbuffer(model)
    images = rng.normal(size=(32, side, side, 3)).astype(np.float32)
    agreement = convert.compare_with_keras(model, flatbuffer, images)
    print(name, agreement)
    # Binary nets are exact except where rounding flips a sign of a value near zero.
    assert agreement["top1_agreement"] >= 0.9
    assert agreement["images_within_1e-4"] >= 0.75
    # The BN statistics are not trivial: the outputs are not all the same.
    assert np.std(model.predict(images, verbose=0), axis=0).max() > 1e-3


def test_count_ops_reads_custom_and_builtin_ops():
    model = zoo.ResNet20DWR()
    counts = convert.count_ops(convert.to_flatbuffer(model))
    assert counts["LceBconv2d"] == 6 and counts["FULLY_CONNECTED"] == 1 and counts["SOFTMAX"] == 1


@pytest.mark.parametrize(
    "make_path, message",
    [
        (lambda tmp: tmp / "missing" / "model.tflite", "does not exist"),
        (lambda tmp: tmp, "is a directory"),
    ],
)
def test_unwritable_output_fails_before_converting(make_path, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        convert.check_output_path(make_path(tmp_path))


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to read-only folders")
def test_read_only_folder_is_refused(tmp_path):
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(ValueError, match="not writable"):
            convert.check_output_path(tmp_path / "model.tflite")
    finally:
        tmp_path.chmod(0o700)


def test_a_failed_write_leaves_no_file(tmp_path, monkeypatch):
    target = tmp_path / "model.tflite"

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        atomic.write_atomically(target, b"\x00" * 1024)
    assert list(tmp_path.iterdir()) == []


def test_atomic_files_get_ordinary_permissions(tmp_path):
    import stat

    target = tmp_path / "card.json"
    atomic.write_atomically(target, "{}")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    assert target.read_text() == "{}"


def test_a_failed_conversion_leaves_no_file(tmp_path, monkeypatch):
    def broken_converter(model):
        raise RuntimeError("converter crashed")

    monkeypatch.setattr(convert, "to_flatbuffer", broken_converter)
    with pytest.raises(RuntimeError):
        convert.convert(zoo.ResNet20DWR(), tmp_path / "model.tflite")
    assert list(tmp_path.iterdir()) == []
