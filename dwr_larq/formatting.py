"""Number formatting shared by tables and reports (no TensorFlow, so the CLI stays quick)."""


def format_count(value: float, spec: str = ".3g") -> str:
    """A count with a G/M/k suffix, for tables (e.g. 1.67G binary MACs)."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:{spec}}{unit}"
    return f"{value:g}"


def text_table(header: list, rows: list) -> str:
    """A terminal table: the first column (and a last one headed "", for notes) left-aligned,
    the others right-aligned, a dashed rule under the header."""
    cells = [list(header), *[list(row) for row in rows]]
    widths = [max(len(line[i]) for line in cells) for i in range(len(header))]
    lefts = {0} | ({len(header) - 1} if header and header[-1] == "" else set())
    lines = ["  ".join(cell.ljust(width) if i in lefts else cell.rjust(width) for i, (cell, width) in enumerate(zip(line, widths))).rstrip()
             for line in cells]
    lines.insert(1, "  ".join("-" * width for width in widths).rstrip())
    return "\n".join(lines)


def markdown_table(header: list, rows: list) -> str:
    """A Markdown table of already formatted cells."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
