"""Print the README's zoo table (markdown) from the library's own measurements.

    python scripts/zoo_table.py > /tmp/table.md
    python scripts/zoo_table.py ResNet18DWRLCE VGGSmallDWRLCE   # some rows only
"""

import sys

from dwr_larq.models import costs
from dwr_larq import zoo
from dwr_larq.formatting import format_count


def main():
    print("| model | blocks | depths x widths | binary MACs | OPs | size | activations in / out |")
    print("|---|---|---|---|---|---|---|")
    for name in sys.argv[1:] or zoo.list_models():
        spec = zoo.get_card(name).spec
        figures = costs.measure_spec(spec)
        shape = f"{list(spec.depths)} x {list(spec.widths)}".replace(" ", "").replace("x", " x ")
        print(
            f"| {name} | {spec.block}{', pad shortcuts' if spec.shortcut == 'pad' else ''} | {shape} | {format_count(figures.binary_macs)} | {format_count(figures.ops)} "
            f"| {figures.size_bytes / 2**20:.2f} MiB | {format_count(figures.activations)} / {format_count(figures.activations_out)} |"
        )


if __name__ == "__main__":
    main()
