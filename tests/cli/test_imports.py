"""TensorFlow loads only when needed, our layers register whenever it does, and the CLI's
errors are the project's own lines only (no TensorFlow start-up noise)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dwr_larq.legacy_keras import VARIABLE


def environment(legacy_keras: str | None) -> dict:
    """This process's environment with ``TF_USE_LEGACY_KERAS`` as given (None: unset, as
    for a user who never heard of it; conftest's ``import dwr_larq`` set it here)."""
    env = {key: value for key, value in os.environ.items() if key != VARIABLE}
    if legacy_keras is not None:
        env[VARIABLE] = legacy_keras
    return env


def run_python(code: str, legacy_keras: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env=environment(legacy_keras))


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
    "imports, legacy_keras",
    [
        ("import dwr_larq; import tensorflow as tf", None),
        ("import dwr_larq; import larq; import tensorflow as tf", None),
        ("import tensorflow as tf; import dwr_larq", "1"),
    ],
)
def test_layers_are_registered_whatever_the_import_order(imports, legacy_keras):
    result = run_python(f"{imports}\nprint(tf.keras.utils.get_registered_object('dwr_larq>RPReLU').__name__)",
                        legacy_keras)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "RPReLU"


def test_importing_dwr_larq_first_chooses_tf_keras_for_the_user():
    result = run_python(
        "import os\n"
        "from dwr_larq import zoo\n"
        "model = zoo.ResNet20()\n"
        "import tensorflow as tf\n"
        f"print(os.environ['{VARIABLE}'], type(model).__module__.split('.')[0], model.count_params())\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", "tf_keras", "274042"]


def test_a_value_the_user_set_is_kept():
    result = run_python(f"import os, dwr_larq\nprint(os.environ['{VARIABLE}'])", legacy_keras="true")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "true"


def test_keras_3_loaded_first_gives_one_error_naming_both_fixes_not_larqs():
    result = run_python("import tensorflow, dwr_larq\nfrom dwr_larq import zoo\nzoo.ResNet20()")
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("dwr_larq.legacy_keras.LegacyKerasRequired: dwr_larq needs legacy Keras (tf-keras)")
    assert f"set {VARIABLE}=1 before TensorFlow is imported" in last and "import dwr_larq before TensorFlow" in last
    assert "site-packages/larq/" not in result.stderr, "the failure must come before larq is imported"


def test_the_cli_under_keras_3_says_so_in_one_line():
    result = subprocess.run([sys.executable, "-m", "dwr_larq.cli", "summary", "ResNet20", "--no-arm"],
                            capture_output=True, text=True, timeout=300, env=environment("0"))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"Error: dwr_larq needs legacy Keras (tf-keras), but tf.keras is Keras 3.")
    assert f"{VARIABLE}='0' is not true" in lines[0]


def test_a_cli_error_is_one_line_without_tensorflow_noise():
    result = subprocess.run(
        [sys.executable, "-m", "dwr_larq.cli", "summary", "ResNet2ODWR"], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("Error: unknown model 'ResNet2ODWR'; did you mean ResNet20DWR")


def test_the_version_is_written_once_and_the_installed_package_reports_it():
    """setup.py reads ``dwr_larq.__version__``; ``dwr-larq --version`` reads the installed metadata."""
    import dwr_larq

    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "setup.py", "--version"], cwd=root, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == dwr_larq.__version__
    assert '"' + dwr_larq.__version__ + '"' not in (root / "setup.py").read_text()
