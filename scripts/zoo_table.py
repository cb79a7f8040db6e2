"""Print the README's zoo table (markdown) from the library's own measurements.

    python scripts/zoo_table.py > /tmp/table.md
"""

from dwr_larq import metrics, zoo


def short(value: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= scale:
            return f"{value / scale:.3g}{unit}"
    return f"{value:g}"


def main():
    print("| model | blocks | depths x widths | binary MACs | OPs | size | activations in / out |")
    print("|---|---|---|---|---|---|---|")
    for name in zoo.list_models():
        spec = zoo.get_card(name).spec
        figures = metrics.measure_spec(spec)
        shape = f"{list(spec.depths)} x {list(spec.widths)}".replace(" ", "").replace("x", " x ")
        print(
            f"| {name} | {spec.block} | {shape} | {short(figures.binary_macs)} | {short(figures.ops)} "
            f"| {figures.size_bytes / 2**20:.2f} MiB | {short(figures.activations)} / {short(figures.activations_out)} |"
        )


if __name__ == "__main__":
    main()
