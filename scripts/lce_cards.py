"""Write the zoo's LCE-tuned DWR cards (``<DWR name>LCE``): DWR reshapes of each original,
tuned for LCE's ARM kernels, kept only when they are cheaper there than the original.

    python scripts/lce_cards.py                 # every pair; writes zoo/NN_<name>.json
    python scripts/lce_cards.py ResNet20DWR --dry-run
    python scripts/lce_cards.py --table           # the README's table of the cards' recorded figures

For each DWR card of the zoo (paper configuration or reshape) and its original, with the
library only and no training:

1. ``dwr.naive(original, s, divisor)``: the DWR card's depth divisor ``s``, widths in
   multiples of ``divisor`` (32 first, what LCE packs in whole words; 16 and 8 only if 32
   cannot reach the budget, as on the narrow CIFAR ResNet-20);
2. ``shortcut="pad"`` where the block kind has a float 1x1 conv shortcut;
3. ``dwr.match_budget(..., by="binary_macs", tolerance=0.02)`` to the original's binary MACs;
4. if that misses a bound, the same with the first stage kept at the original's width
   (``keep=(0,)``: no ChannelAlign, fewer activations on the largest feature maps).

The width search is not run: it needs a pre-trained network, so the widths keep the
original's proportions. A card is written only if its binary MACs are within 2% of the
original's, its ARM estimate (``dwr_larq.deploy.arm_cost``) at most 0.95x and its
activations at most 0.80x; otherwise the script says which bound it misses.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

ZOO = Path(__file__).parent.parent / "zoo"
DIVISORS = (32, 16, 8)
TOLERANCE = 0.02
BOUNDS = {"arm_vs_source": 0.95, "activations_vs_source": 0.80}


def depth_divisor(original, reshaped) -> float:
    """The ``s`` a DWR card used: the largest per-stage depth ratio."""
    return max(a / b for a, b in zip(original.depths, reshaped.depths))


def tuned_spec(original, s: float, keep=()):
    """(spec, divisor): the LCE-tuned reshape of ``original`` at depth divisor ``s``;
    stages in ``keep`` keep the original's width."""
    from dwr_larq import dwr
    from dwr_larq.dwr.budget import BudgetMiss
    from dwr_larq.models.kinds import KINDS

    misses = []
    for divisor in DIVISORS:
        start = dwr.naive(original, s, divisor=divisor)
        start = start.replace(widths=tuple(original.widths[i] if i in keep else w for i, w in enumerate(start.widths)))
        if KINDS[original.block].projects_shortcut:
            start = start.replace(shortcut="pad")
        try:
            return dwr.match_budget(start, original, by="binary_macs", tolerance=TOLERANCE, divisor=divisor, keep=keep), divisor
        except BudgetMiss as miss:
            misses.append(str(miss))
    raise click.ClickException("; ".join(misses))


def misses(figures: dict) -> list:
    out = [f"{key} {figures[key]} > {bound}" for key, bound in BOUNDS.items() if figures[key] > bound]
    if abs(figures["binary_macs_vs_source"] - 1) > TOLERANCE:
        out.append(f"binary_macs_vs_source {figures['binary_macs_vs_source']} outside 1±{TOLERANCE}")
    return out


def card_path(name: str, dwr_name: str) -> Path:
    """The card's file: its own if it exists, else the next number with the DWR card's file name + ``_lce``."""
    existing = {json.loads(p.read_text())["name"]: p for p in sorted(ZOO.glob("[0-9][0-9]_*.json"))}
    if name in existing:
        return existing[name]
    number = max(int(p.name[:2]) for p in existing.values()) + 1
    return ZOO / f"{number:02d}_{existing[dwr_name].stem[3:]}_lce.json"


def tuned_card(dwr_name: str, keep=(), s: float | None = None):
    """(card, figures) of the tuned version of the zoo's ``dwr_name`` (``s``: its DWR card's unless given)."""
    from dwr_larq import zoo
    from dwr_larq.cli.reshape import card_figures
    from dwr_larq.deploy.arm_cost import DESCRIPTION
    from dwr_larq.zoo.cards import ModelCard

    reshaped = zoo.get_card(dwr_name)
    original = zoo.get_card(reshaped.source["reshaped_from"])
    s = s or depth_divisor(original.spec, reshaped.spec)
    spec, divisor = tuned_spec(original.spec, s, keep)
    figures = card_figures(spec, original.spec, arm=True)
    name = f"{dwr_name}LCE"
    source = {
        "kind": "dwr-lce",
        "reshaped_from": original.name,
        "depths_from": dwr_name,
        "reference": "Xue et al., AAAI 2023 (naive reshaping and budget matching; no width search, which needs training)",
        "s": s,
        "divisor": divisor,
        "shortcut": spec.shortcut,
        "kept_stages": list(keep),
        "budget": "binary_macs",
        "tolerance": TOLERANCE,
        "arm_estimate": DESCRIPTION,
        "made_by": f"python scripts/lce_cards.py {dwr_name}" + (f" --s {s:g}" if s != depth_divisor(original.spec, reshaped.spec) else ""),
    }
    description = (f"{original.name} reshaped for LCE's ARM kernels: {dwr_name}'s depths (s={s:g}), widths "
                   f"{list(spec.widths)} in multiples of {divisor} at the original's binary MACs, "
                   f"{spec.shortcut} shortcuts; estimated {figures['arm_vs_source']}x the original's ARM instructions.")
    return ModelCard(name, original.dataset, description, spec, source, {}, figures), figures


def figures_table() -> str:
    """Markdown: every tuned card against its original, from the figures the card records."""
    from dwr_larq import zoo

    lines = ["| model | reshaped from | depths x widths | shortcut | binary MACs x | activations x | ARM est. x |",
             "|---|---|---|---|---|---|---|"]
    for name in zoo.list_models():
        card = zoo.get_card(name)
        if card.source.get("kind") != "dwr-lce":
            continue
        f, spec = card.figures, card.spec
        lines.append(f"| {name} | {card.source['reshaped_from']} | {list(spec.depths)} x {list(spec.widths)} | {spec.shortcut} "
                     f"| {f['binary_macs_vs_source']:.3f} | {f['activations_vs_source']:.3f} | {f['arm_vs_source']:.3f} |")
    return "\n".join(lines)


@click.command()
@click.argument("names", nargs=-1)
@click.option("--s", "s", type=click.FloatRange(min=1), help="Depth divisor (default: each DWR card's).")
@click.option("--dry-run", is_flag=True, help="Print the figures; write no card.")
@click.option("--table", is_flag=True, help="Write the cards' figures between the README's lce-pairs markers; reshape nothing.")
def main(names, s, dry_run, table):
    from dwr_larq import zoo
    from dwr_larq.atomic import write_atomically

    if table:
        from benchmark_table import replace_section  # this folder's script

        readme = ZOO.parent / "README.md"
        write_atomically(readme, replace_section(readme.read_text(), figures_table(), str(readme), "lce-pairs"))
        click.echo(f"{readme.name}: lce-pairs table from the cards")
        return

    names = names or [n for n in zoo.list_models() if zoo.get_card(n).source.get("reshaped_from")
                      and zoo.get_card(n).source.get("kind") != "dwr-lce"]
    for dwr_name in names:
        for keep in ((), (0,)):
            card, figures = tuned_card(dwr_name, keep, s)
            shown = ", ".join(f"{k} {figures[k]}" for k in ("binary_macs_vs_source", "arm_vs_source", "activations_vs_source"))
            problems = misses(figures)
            click.echo(f"{card.name}: depths {list(card.spec.depths)} widths {list(card.spec.widths)} divisor "
                       f"{card.source['divisor']} shortcut {card.spec.shortcut} kept stages {list(keep)}: {shown}")
            if not problems:
                break
            click.echo(f"  misses: {'; '.join(problems)}")
        if problems:
            click.echo(f"  not written: {card.name} misses a bound either way")
        elif not dry_run:
            path = card_path(card.name, dwr_name)
            write_atomically(path, json.dumps(card.to_dict(), indent=2) + "\n")
            click.echo(f"  wrote {path.relative_to(ZOO.parent)}")


if __name__ == "__main__":
    main()
