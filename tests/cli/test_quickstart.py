"""``dwr-larq quickstart``: the main job, on tiny stand-in models (fast) and for real (slow)."""

import json

import pytest
from click.testing import CliRunner

from dwr_larq.cli import quickstart
from dwr_larq.cli.main import main
from conftest import tiny_card

TINY_CARD = tiny_card()


def test_table_has_one_row_per_model_and_formats_units():
    row = dict(
        model="A", keras_accuracy=0.9861, tflite_accuracy=0.9833, binary_macs=575_000_000, activations=527_000,
        size_bytes=1.54 * 2**20, latency_ms=12.345, train_images_per_second=42.42,
    )
    lines = quickstart.table([row, {**row, "model": "LongerName"}]).splitlines()
    assert len(lines) == 4 and lines[0].split()[:3] == ["model", "Keras", "acc"]
    assert "98.61%" in lines[2] and "98.33%" in lines[2] and "575M" in lines[2] and "527k" in lines[2]
    assert "1.54 MiB" in lines[2] and "12.35 ms" in lines[2] and "42.4" in lines[2]
    assert len(set(len(line) for line in lines)) == 1


def test_quickstart_end_to_end_on_tiny_models(tmp_path, monkeypatch):
    cards = []
    for name, widths in (("TinyA", [8, 16]), ("TinyB", [16, 24])):
        path = tmp_path / f"{name}.json"
        card = {**TINY_CARD, "name": name, "spec": {**TINY_CARD["spec"], "widths": widths}}
        path.write_text(json.dumps(card))
        cards.append(str(path))
    monkeypatch.setattr(quickstart, "MODELS", tuple(cards))
    out = tmp_path / "qs"
    args = ["quickstart", "--out", str(out), "--epochs", "2", "--batch-size", "128", "--learning-rate", "0.005"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "quickstart.json").read_text())
    assert [row["model"] for row in report["rows"]] == ["TinyA", "TinyB"]
    for row in report["rows"]:
        assert row["epochs"] == 2 and row["test_images"] == 360
        assert row["lce_bconv_ops"] == row["binary_convs"] > 0
        assert abs(row["keras_accuracy"] - row["tflite_accuracy"]) <= 2 / 360
        assert row["latency_ms"] > 0 and row["train_images_per_second"] > 0
        assert (out / f"{row['model']}.tflite").stat().st_size == row["tflite_bytes"]
        assert json.loads((out / row["model"] / "summary.json").read_text())["accuracy"] == pytest.approx(row["keras_accuracy"])
    assert "Keras acc" in result.output and "TFLite acc" in result.output
    # Running it again reuses the finished runs and prints the same accuracies.
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0, again.output
    assert json.loads((out / "quickstart.json").read_text())["rows"][1]["keras_accuracy"] == report["rows"][1]["keras_accuracy"]


@pytest.mark.slow
def test_quickstart_for_real_dwr_reaches_90_percent_and_its_flatbuffer_agrees(tmp_path):
    """The main job as a user runs it (several minutes on 2 cores)."""
    result = CliRunner().invoke(main, ["quickstart", "--out", str(tmp_path / "qs")])
    assert result.exit_code == 0, result.output
    rows = {row["model"]: row for row in json.loads((tmp_path / "qs" / "quickstart.json").read_text())["rows"]}
    assert set(rows) == {"ResNet18CIFAR", "ResNet18CIFARDWR"}
    dwr = rows["ResNet18CIFARDWR"]
    assert dwr["keras_accuracy"] >= 0.90
    assert abs(dwr["keras_accuracy"] - dwr["tflite_accuracy"]) <= 0.005
    for row in rows.values():
        assert row["lce_bconv_ops"] == row["binary_convs"]
