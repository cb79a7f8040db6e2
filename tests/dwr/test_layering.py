"""The DWR method depends on ``models/`` only: pre-training and budget measures are
passed in (``dwr_larq.reshaping`` wires the project's), so a change in training or
deployment cannot reach into the method."""

import ast
import subprocess
import sys
from pathlib import Path

import dwr_larq

DWR = Path(dwr_larq.__file__).parent / "dwr"
FORBIDDEN = ("dwr_larq.training", "dwr_larq.deploy", "dwr_larq.cli")


def imported_modules(path: Path) -> set:
    """Every module a file imports, at module level or inside functions, and every
    module name it hands to ``importlib`` as a string constant."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("dwr_larq."):
            found.add(node.value)
    return found


def test_the_dwr_package_imports_nothing_from_training_deploy_or_cli():
    files = sorted(DWR.glob("*.py"))
    assert len(files) >= 4
    offending = {f.name: sorted(m for m in imported_modules(f) if m.startswith(FORBIDDEN)) for f in files}
    assert {name: found for name, found in offending.items() if found} == {}


def test_the_check_sees_an_import_inside_a_function(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from dwr_larq.deploy import arm_cost\n    import dwr_larq.training.data\n")
    assert {"dwr_larq.deploy", "dwr_larq.training.data"} <= imported_modules(sample)


def test_the_method_and_its_wiring_import_no_tensorflow():
    """The search reads a Keras model, so it alone may load TensorFlow; the rest waits for use."""
    code = ("import sys\nimport dwr_larq.dwr, dwr_larq.dwr.budget, dwr_larq.reshaping\n"
            "print('tensorflow' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
