"""Redraw the README's benchmark table from a `dwr-larq benchmark --json` file.

    python scripts/benchmark_table.py benchmarks/x86_224.json [--readme README.md] [--check]

The table goes between the `<!-- benchmark-table:start -->` and
`<!-- benchmark-table:end -->` markers, followed by a line saying how it was measured,
so the README's numbers are always the tool's output. `--check` changes nothing and
exits 1 when the README is out of date.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

START = "<!-- benchmark-table:start -->"
END = "<!-- benchmark-table:end -->"


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


def render(data: dict, source: str) -> str:
    from dwr_larq.deploy import report

    rows = report.with_ratios(data["rows"], data["meta"].get("reference"))
    lines = [report.markdown_table(rows), "", f"Measured on {report.describe(data['meta'])}."]
    lines.append(f"Regenerate: `{command(data['meta'], source)}` then `python scripts/benchmark_table.py {source}`.")
    return "\n".join(lines)


def replace_section(text: str, body: str, readme: str) -> str:
    if text.count(START) != 1 or text.count(END) != 1 or text.index(START) > text.index(END):
        raise click.ClickException(f"{readme} needs exactly one {START} followed by one {END}")
    head, rest = text.split(START)
    _, tail = rest.split(END)
    return f"{head}{START}\n{body}\n{END}{tail}"


@click.command()
@click.argument("benchmark_json", type=click.Path(exists=True, dir_okay=False))
@click.option("--readme", default=str(Path(__file__).parent.parent / "README.md"), show_default=True,
              type=click.Path(exists=True, dir_okay=False))
@click.option("--check", is_flag=True, help="Exit 1 if the README's table differs; write nothing.")
def main(benchmark_json, readme, check):
    from dwr_larq.deploy import report

    text = Path(readme).read_text()
    replace_section(text, "", readme)  # check the markers before reading anything else
    try:
        data = report.read_json(benchmark_json)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    if not data["rows"]:
        raise click.ClickException(f"{benchmark_json} has no rows")
    updated = replace_section(text, render(data, benchmark_json), readme)
    if check:
        if updated != text:
            click.echo(f"{readme}: benchmark table is out of date; run python scripts/benchmark_table.py {benchmark_json}", err=True)
            sys.exit(1)
        click.echo(f"{readme}: benchmark table is up to date")
        return
    if updated != text:
        from dwr_larq.deploy.convert import write_atomically

        write_atomically(readme, updated.encode())
    click.echo(f"{readme}: benchmark table from {benchmark_json} ({len(data['rows'])} rows)")


if __name__ == "__main__":
    main()
