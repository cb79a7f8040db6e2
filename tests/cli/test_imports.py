"""TensorFlow loads only when needed, our layers register whenever it does, and the CLI's
errors are the project's own lines only (no TensorFlow start-up noise)."""

import subprocess
import sys
from pathlib import Path

import pytest


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


def test_package_specs_dwr_arithmetic_zoo_listing_and_cli_import_no_tensorflow():
    result = run_python(
        "import sys\n"
        "import dwr_larq\n"
        "from dwr_larq import dwr, zoo\n"
        "from dwr_larq.cli.main import main\n"
        "from dwr_larq.models.spec import BackboneSpec\n"
        "spec = zoo.get_card('ResNet20').spec\n"
        "print(dwr.naive(spec, 3).depths, len(zoo.list_models()), isinstance(spec, BackboneSpec))\n"
        "print('tensorflow' in sys.modules)\n"
    )
    assert result.returncode == 0, result.stderr
    cards = len(list((Path(__file__).resolve().parents[2] / "zoo").glob("*.json")))
    assert cards >= 19
    assert result.stdout.split("\n")[:2] == [f"(1, 1, 1) {cards} True", "False"]


@pytest.mark.parametrize(
    "imports",
    [
        "import dwr_larq; import tensorflow as tf",
        "import dwr_larq; import larq; import tensorflow as tf",
        "import tensorflow as tf; import dwr_larq",
    ],
)
def test_layers_are_registered_whatever_the_import_order(imports):
    result = run_python(f"{imports}\nprint(tf.keras.utils.get_registered_object('dwr_larq>RPReLU').__name__)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "RPReLU"


def test_a_cli_error_is_one_line_without_tensorflow_noise():
    result = subprocess.run(
        [sys.executable, "-m", "dwr_larq.cli", "summary", "ResNet2ODWR"], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("Error: unknown model 'ResNet2ODWR'; did you mean ResNet20DWR")
