"""Redraw the README's benchmark table from a `dwr-larq benchmark --json` file.

    python scripts/benchmark_table.py benchmarks/lce_x86_224.json [--readme README.md] [--check]
    python scripts/benchmark_table.py benchmarks/arm_estimate.json --section arm-table \
        --columns "model,binary MACs,activations,ARM instr. (est.),tflite MiB"

The table goes between the `<!-- SECTION:start -->` and `<!-- SECTION:end -->` markers
(SECTION: `benchmark-table` unless `--section` says another), followed by a line saying
how it was measured, so the README's numbers are always the tool's output. `--check`
changes nothing and exits 1 when the README is out of date. ``replace_section`` also
serves the other generated README tables (``lce_cards.py --table``, ``zoo_table.py``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

DEFAULT_SECTION = "benchmark-table"


def markers(section: str) -> tuple:
    return f"<!-- {section}:start -->", f"<!-- {section}:end -->"


def command(meta: dict, source: str) -> str:
    """The ``dwr-larq benchmark`` command that wrote ``source``, from its recorded settings."""
    words = ["dwr-larq benchmark", *meta.get("items", [])]
    if meta.get("input_size"):
        words.append(f"--input-size {meta['input_size']}")
    if meta.get("threads"):
        words.append("--threads " + ",".join(str(t) for t in meta["threads"]))
    for key in ("runs", "warmup", "rounds", "kernel", "reference"):
        if meta.get(key):
            words.append(f"--{key} {meta[key]}")
    return " ".join(words + [f"--json {source}"])


def render(data: dict, source: str, section: str = DEFAULT_SECTION, columns=None) -> str:
    from dwr_larq.deploy import report

    rows = report.with_ratios(data["rows"], data["meta"].get("reference"))
    lines = [report.markdown_table(rows, columns), "", f"Measured on {report.describe(data['meta'])}."]
    option = "" if section == DEFAULT_SECTION else f" --section {section}"
    option += "" if columns is None else f' --columns "{",".join(columns)}"'
    lines.append(f"Regenerate: `{command(data['meta'], source)}` then `python scripts/benchmark_table.py {source}{option}`.")
    return "\n".join(lines)


def replace_section(text: str, body: str, readme: str, section: str = DEFAULT_SECTION) -> str:
    start, end = markers(section)
    if text.count(start) != 1 or text.count(end) != 1 or text.index(start) > text.index(end):
        raise click.ClickException(f"{readme} needs exactly one {start} followed by one {end}")
    head, rest = text.split(start)
    _, tail = rest.split(end)
    return f"{head}{start}\n{body}\n{end}{tail}"


def write_or_check(readme, text: str, updated: str, check: bool, what: str, regenerate: str) -> bool:
    """Write ``updated`` over ``readme`` when it differs from ``text``; with ``check``, write
    nothing and exit 1 if it differs. Returns whether it wrote (or would have)."""
    if check:
        if updated != text:
            click.echo(f"{readme}: {what} is out of date; run {regenerate}", err=True)
            sys.exit(1)
        click.echo(f"{readme}: {what} is up to date")
        return False
    if updated != text:
        from dwr_larq.atomic import write_atomically

        write_atomically(readme, updated)
    return True


@click.command()
@click.argument("benchmark_json", type=click.Path(exists=True, dir_okay=False))
@click.option("--readme", default=str(Path(__file__).parent.parent / "README.md"), show_default=True,
              type=click.Path(exists=True, dir_okay=False))
@click.option("--section", default=DEFAULT_SECTION, show_default=True, help="The README's marked section to rewrite.")
@click.option("--columns", help="Comma-separated column headers to show (default: every column with something to show).")
@click.option("--check", is_flag=True, help="Exit 1 if the README's table differs; write nothing.")
def main(benchmark_json, readme, section, columns, check):
    from dwr_larq.deploy import report

    text = Path(readme).read_text()
    replace_section(text, "", readme, section)  # check the markers before reading anything else
    try:
        data = report.read_json(benchmark_json)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    if not data["rows"]:
        raise click.ClickException(f"{benchmark_json} has no rows")
    headers = None if columns is None else [c.strip() for c in columns.split(",")]
    try:
        updated = replace_section(text, render(data, benchmark_json, section, headers), readme, section)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    if write_or_check(readme, text, updated, check, "benchmark table", f"python scripts/benchmark_table.py {benchmark_json}"):
        click.echo(f"{readme}: benchmark table from {benchmark_json} ({len(data['rows'])} rows)")


if __name__ == "__main__":
    main()
