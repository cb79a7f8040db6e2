import os
import pwd
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from dwr_larq import atomic, zoo
from dwr_larq.cli.main import main
from dwr_larq.deploy import convert
from dwr_larq.models import costs

from conftest import outputs, randomize_batch_norms


# Models the agreement test below converts (and counts the bconvs of) at twice this size.
AGREEMENT = ("ResNet18DWR", "ReActResNet18DWR")
# Conversions that add no layer or block kind to the fast suite's: the ImageNet ResNet-18s
# and ResNet-34s (their DWR versions' kinds, ChannelAlign aside), ReActNetA (ReActNetADWR's
# kind, RepeatChannels included), the tuned ImageNet cards (ReActResNet18DWRLCE's and the
# CIFAR-sized tuned cards' layers; ReActNetADWRLCE has ReActNetADWR's) and the authors'
# originals (their DWR versions have the same heads and blocks); and those the agreement
# test converts.
SLOW_CONVERSIONS = {"BiRealResNet18", "ReActResNet18", "BiRealResNet34", "ResNet34DWR", "ReActNetA",
                    "ResNet18DWRLCE", "ResNet34DWRLCE", "ReActNetADWRLCE", "ReActResNet20", "VGG11", *AGREEMENT}


def assert_every_binary_conv_converted(model, op_counts: dict):
    assert op_counts.get("LceBconv2d", 0) == len(costs.binary_conv_layers(model)) > 0
    # Every binary conv reads from a sign, so no float conv is left in the binary part.
    assert op_counts["LceQuantize"] >= 1


@pytest.mark.parametrize("name", [pytest.param(name, marks=[pytest.mark.slow] if name in SLOW_CONVERSIONS else [])
                                  for name in zoo.list_models()])
def test_every_binary_conv_becomes_an_lce_bconv2d(name, converted, tmp_path):
    card = zoo.get_card(name)
    if card.spec.input_size <= 32:  # at its native size, converted once for this and the ARM-estimate tests
        model = zoo.get_model(name)
        counts = convert.count_ops(converted(name))
    else:  # ImageNet-sized: at its smallest input, written by ``convert`` as a user would
        side = card.spec.downsampling
        model = zoo.get_model(name, input_shape=(side, side, 3))
        report = convert.convert(model, tmp_path / f"{name}.tflite")
        assert (tmp_path / f"{name}.tflite").stat().st_size == report.size_bytes
        counts = report.op_counts
    assert_every_binary_conv_converted(model, counts)


@pytest.mark.parametrize("name", [*AGREEMENT,  # ChannelAlign with both block kinds
                                  *(pytest.param(n, marks=pytest.mark.slow) for n in ("ResNet20DWR", "VGGSmallDWR"))])
def test_lce_interpreter_agrees_with_keras(name, rng, tmp_path):
    side = 2 * zoo.get_card(name).spec.downsampling
    model = zoo.get_model(name, input_shape=(side, side, 3))
    randomize_batch_norms(model, rng)
    flatbuffer = convert.to_flatbuffer(model)
    assert_every_binary_conv_converted(model, convert.count_ops(flatbuffer))
    images = rng.normal(size=(32, side, side, 3)).astype(np.float32)
    agreement = convert.compare_with_keras(model, flatbuffer, images)
    print(name, agreement)
    # Binary nets are exact except where rounding flips a sign of a value near zero.
    assert agreement["top1_agreement"] >= 0.9
    assert agreement["images_within_1e-4"] >= 0.75
    # The BN statistics are not trivial: the outputs are not all the same.
    assert np.std(outputs(model, images), axis=0).max() > 1e-3


def test_count_ops_reads_custom_and_builtin_ops():
    model = zoo.ResNet20DWR()
    counts = convert.count_ops(convert.to_flatbuffer(model))
    assert counts["LceBconv2d"] == 6 and counts["FULLY_CONNECTED"] == 1 and counts["SOFTMAX"] == 1


def _files(folder: Path) -> set:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.fixture(scope="module")
def resnet20_flatbuffer():
    return convert.to_flatbuffer(zoo.ResNet20DWR(input_shape=(8, 8, 3)))


@pytest.fixture
def lce_converter(monkeypatch, resnet20_flatbuffer):
    """LCE's converter replaced by one that records its calls and returns a real flatbuffer
    (ResNet20DWR's at 8x8, what ``dwr-larq convert ResNet20DWR --input-size 8`` expects)."""
    import larq_compute_engine

    flatbuffer = resnet20_flatbuffer
    calls = []

    def recording_converter(model, **kwargs):
        calls.append(model)
        return flatbuffer

    monkeypatch.setattr(larq_compute_engine, "convert_keras_model", recording_converter)
    return calls


BAD_OUTPUTS = {
    "missing folder": (lambda tmp: tmp / "missing" / "model.tflite", "output folder '{tmp}/missing' does not exist"),
    "a directory": (lambda tmp: tmp, "{tmp}' is a directory"),  # click's own check, for the command
    "under a file": (lambda tmp: tmp / "notes.txt" / "model.tflite", "'{tmp}/notes.txt/model.tflite': '{tmp}/notes.txt' is a file, not a folder"),
    "deep under a file": (lambda tmp: tmp / "notes.txt" / "a" / "model.tflite", "'{tmp}/notes.txt' is a file, not a folder"),
}


@pytest.mark.parametrize("case", list(BAD_OUTPUTS))
@pytest.mark.parametrize("entry", ["library", "cli"])
def test_a_bad_output_fails_before_converting(entry, case, lce_converter, tmp_path):
    (tmp_path / "notes.txt").write_text("a file where a folder should be")
    make_path, message = BAD_OUTPUTS[case]
    path, message = make_path(tmp_path), message.format(tmp=tmp_path)
    before = _files(tmp_path)
    if entry == "library":
        with pytest.raises(ValueError, match=re.escape(message)):
            convert.convert("a Keras model", path)
    else:
        result = CliRunner().invoke(main, ["convert", "ResNet20DWR", "-o", str(path), "--input-size", "8"], catch_exceptions=False)
        assert result.exit_code != 0 and message in result.output, result.output
    assert lce_converter == [] and _files(tmp_path) == before


@pytest.mark.parametrize("entry", ["library", "cli"])
def test_a_good_output_is_converted_once_and_written(entry, lce_converter, tmp_path):
    """The control for the test above: the same converter stand-in is called, and the file appears."""
    path = tmp_path / "model.tflite"
    if entry == "library":
        convert.convert("a Keras model", path)
    else:
        result = CliRunner().invoke(main, ["convert", "ResNet20DWR", "-o", str(path), "--input-size", "8"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
    assert len(lce_converter) == 1 and _files(tmp_path) == {"model.tflite"}


def _in_a_process_that_honours_file_modes(function) -> str:
    """``function()``'s result or error as text, run in a forked child that, when the tests
    run as root (as CI does), becomes ``nobody``: root writes into read-only folders."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        try:
            os.close(read)
            if os.geteuid() == 0:
                nobody = pwd.getpwnam("nobody").pw_uid if "nobody" in {p.pw_name for p in pwd.getpwall()} else 65534
                os.setgid(nobody)
                os.setuid(nobody)
            try:
                text = f"returned {function()}"
            except Exception as error:
                text = f"{type(error).__name__}: {error}"
            os.write(write, text.encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as handle:
        text = handle.read()
    os.waitpid(pid, 0)
    return text


def test_read_only_folder_is_refused():
    # Under /tmp, not tmp_path: nobody must be able to reach the folders; tmp_path's parents are root's alone.
    base = Path(tempfile.mkdtemp(prefix="dwr-larq-read-only-"))
    try:
        base.chmod(0o755)
        (base / "read-only").mkdir(mode=0o555)
        (base / "writable").mkdir()
        (base / "writable").chmod(0o777)
        refused = _in_a_process_that_honours_file_modes(lambda: convert.check_output_path(base / "read-only" / "model.tflite"))
        accepted = _in_a_process_that_honours_file_modes(lambda: convert.check_output_path(base / "writable" / "model.tflite"))
    finally:
        (base / "read-only").chmod(0o755)
        shutil.rmtree(base)
    assert refused == f"ValueError: output folder '{base}/read-only' is not writable"
    assert accepted == f"returned {base}/writable/model.tflite"


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
