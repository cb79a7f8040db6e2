import json

from click.testing import CliRunner

from dwr_larq import zoo
from dwr_larq.cli.main import main

METRIC_KEYS = {"binary_macs", "float_macs", "ops", "params_binary", "params_float", "size_bytes", "activations"}


def run(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_list_json_has_every_card():
    result = run("list", "--json")
    assert result.exit_code == 0
    names = [card["name"] for card in json.loads(result.output)]
    assert "ResNet18DWR" in names and names == zoo.list_models()


def test_list_table_filters_by_pattern():
    result = run("list", "ResNet20*")
    assert result.exit_code == 0
    assert "ResNet20DWR" in result.output and "VGGSmall" not in result.output


def test_summary_json_has_the_cost_keys():
    result = run("summary", "ResNet20DWR", "--json")
    assert result.exit_code == 0
    figures = json.loads(result.output)
    assert METRIC_KEYS <= set(figures) and figures["binary_convs"] == 6


def test_summary_at_another_input_size():
    small = json.loads(run("summary", "ResNet18DWR", "--input-size", "64", "--json", "--no-arm").output)
    large = json.loads(run("summary", "ResNet18DWR", "--input-size", "128", "--json", "--no-arm").output)
    assert large["binary_macs"] == 4 * small["binary_macs"]


def test_summary_of_an_unknown_model_suggests_names():
    result = run("summary", "ResNet2ODWR")
    assert result.exit_code != 0
    assert "did you mean ResNet20DWR" in result.output


def test_summary_with_a_too_small_input():
    result = run("summary", "ResNet18DWR", "--input-size", "16")
    assert result.exit_code != 0 and "too small" in result.output
    assert "Traceback" not in result.output


def test_convert_writes_a_flatbuffer_and_reports_ops(tmp_path):
    out = tmp_path / "resnet20.tflite"
    result = run("convert", "ResNet20DWR", "-o", str(out), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["op_counts"]["LceBconv2d"] == report["keras_binary_convs"] == 6
    assert out.stat().st_size == report["size_bytes"]


def test_convert_to_a_missing_folder_writes_nothing(tmp_path):
    result = run("convert", "ResNet20DWR", "-o", str(tmp_path / "nope" / "m.tflite"))
    assert result.exit_code != 0 and "does not exist" in result.output
    assert list(tmp_path.iterdir()) == []


def test_convert_a_saved_keras_model(tmp_path):
    model = zoo.ResNet20DWR(num_classes=3)
    path = tmp_path / "model.keras"
    model.save(path)
    out = tmp_path / "model.tflite"
    result = run("convert", str(path), "-o", str(out), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["op_counts"]["LceBconv2d"] == 6


def test_convert_a_file_that_is_not_a_model(tmp_path):
    bogus = tmp_path / "bogus.keras"
    bogus.write_text("not a model")
    result = run("convert", str(bogus), "-o", str(tmp_path / "m.tflite"))
    assert result.exit_code != 0 and "not a loadable Keras model" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bogus.keras"]
