"""Number formatting shared by tables and reports (no TensorFlow, so the CLI stays quick)."""


def format_count(value: float, spec: str = ".3g") -> str:
    """A count with a G/M/k suffix, for tables (e.g. 1.67G binary MACs)."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:{spec}}{unit}"
    return f"{value:g}"
