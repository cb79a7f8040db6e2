"""The README's zoo table is ``scripts/zoo_table.py``'s output for every card, and its
layout section names every module: a card or module added without them fails here."""

import importlib.util
import re
import sys
from pathlib import Path

import pytest

import dwr_larq
from dwr_larq import zoo

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def _zoo_table():
    sys.path.insert(0, str(ROOT / "scripts"))  # zoo_table imports its neighbour benchmark_table
    spec = importlib.util.spec_from_file_location("zoo_table", ROOT / "scripts" / "zoo_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


zoo_table = _zoo_table()


def readme_rows() -> dict:
    """The README table's rows by model name, as lists of cells."""
    section = README.split("<!-- zoo-table:start -->")[1].split("<!-- zoo-table:end -->")[0]
    rows = [line.strip("|").split(" | ") for line in section.splitlines() if line.startswith("| ")]
    assert [cell.strip() for cell in rows[0]] == zoo_table.HEADER
    return {cells[0].strip(): [cell.strip() for cell in cells] for cells in rows[1:]}


def test_the_readme_lists_every_card_in_order_with_its_spec():
    rows = readme_rows()
    assert list(rows) == zoo.list_models()
    for name, cells in rows.items():
        assert cells[: zoo_table.SPEC_COLUMNS] == zoo_table.spec_cells(zoo.get_card(name)), name


@pytest.mark.parametrize("name", ["ResNet20", "ResNet20DWRLCE", "VGGSmallDWRAuthors"])
def test_the_readme_figures_are_the_scripts_measurements(name):
    """Small cards, measured in seconds; ``test_the_whole_table_is_up_to_date`` (slow) measures all."""
    assert readme_rows()[name] == zoo_table.row(zoo.get_card(name))


@pytest.mark.slow
def test_the_whole_table_is_up_to_date():
    section = README.split("<!-- zoo-table:start -->\n")[1].split("\n<!-- zoo-table:end -->")[0]
    assert section == zoo_table.table()


def test_the_layout_section_names_every_module_folder_and_module():
    layout = README.split("## Layout\n")[1].split("\n## ")[0]
    lines = [line for line in layout.splitlines() if line.startswith("- ")]
    package = Path(dwr_larq.__file__).parent
    folders = {"dwr_larq/": package, **{f"{p.name}/": p for p in package.iterdir() if (p / "__init__.py").is_file()}}
    for label, folder in folders.items():
        (line,) = [line for line in lines if re.match(rf"- `{re.escape(label)}`( itself)?:", line)]
        modules = {p.stem for p in folder.glob("*.py")} - {"__init__"}
        missing = sorted(m for m in modules if not re.search(rf"`{re.escape(m)}`", line))
        assert not missing, f"README's layout line for {label} misses {missing}"
    for folder in ("zoo/", "scripts/", "tests/"):
        assert any(line.startswith(f"- `{folder}`") for line in lines), folder
    (scripts,) = [line for line in lines if line.startswith("- `scripts/`")]
    missing = sorted(p.name for p in (ROOT / "scripts").iterdir() if p.is_file() and f"`{p.name}`" not in scripts)
    assert not missing, f"README's layout line for scripts/ misses {missing}"
