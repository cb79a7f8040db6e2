"""Find and write the zoo's equal-cost cards: one card's layout with its widths matched to
another card's ARM estimate, so that the two can be trained and compared at equal cost
on LCE's ARM kernels (experiments/fashion_mnist, step 3: does DWR win at equal ARM cost?).

    python scripts/equal_cost_cards.py                        # every card in CARDS; writes zoo/NN_<file>.json
    python scripts/equal_cost_cards.py ResNet20DWREqualARM --check   # exit 1 if the zoo's card is not what this writes
    python scripts/equal_cost_cards.py --layout ResNet20 --cost-of ResNet20DWRLCE --shortcut pad
                                                              # any pair: the match, or how far each divisor misses

The layout card's spec keeps everything (depths, strides, stem, shortcut, head) but its
widths, which ``dwr.match_budget`` scales by one factor (then steps single stages) until
the ARM estimate is within 2% of the cost card's, in multiples of 32, else 16, else 8,
as ``scripts/lce_cards.py`` does; each candidate is converted once and priced by its
``Pricer`` (flatbuffers cached under ``--cache-dir``). Both are priced at the spec's own
input (32x32x3 for the CIFAR cards). The card's figures are ratios to the cost card.

The zoo's pair widens ResNet20DWRLCE to ResNet20's cost: the other way round has no
answer (the entry's ``why`` says why; the third command above shows each divisor's miss).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import click

sys.path.insert(0, str(Path(__file__).parent))
import lce_cards  # noqa: E402  (this folder's script: its Pricer, divisors, tolerance and card files)

from dwr_larq.zoo.cards import SourceKind  # noqa: E402


@dataclass(frozen=True)
class EqualCost:
    """A card to write: ``layout``'s spec with widths matched to ``cost_of``'s ARM estimate."""

    layout: str  # the zoo card whose spec is widened or narrowed
    cost_of: str  # the zoo card whose ARM estimate it matches; the card's figures are ratios to it
    file_stem: str  # zoo/NN_<file_stem>.json
    why: str  # what the comparison asks


CARDS = {
    "ResNet20DWREqualARM": EqualCost(
        layout="ResNet20DWRLCE", cost_of="ResNet20", file_stem="resnet20_dwr_equal_arm",
        why="ResNet20DWRLCE costs 0.53x ResNet20's ARM estimate at its binary MACs; widened to ResNet20's estimate, "
            "trained beside ResNet20 it asks whether DWR's shallow, wide layout wins at equal ARM cost. ResNet-20's own "
            "depths cannot be narrowed to ResNet20DWRLCE's cost (its 18 binary convs cost per pixel whatever the width: "
            "widths [8, 8, 8] with pad shortcuts estimate 1.54x ResNet20DWRLCE's), so the DWR card moves to the original's "
            "cost. Shortcuts: ResNet20DWRLCE's zero-padded ones (its design, and the CIFAR ResNet's option A); ResNet20 keeps "
            "its 1x1 conv ones, as trained and shipped: the card matches the ResNet20 that is compared, and those convs cost "
            "it little on ARM (with pad shortcuts ResNet20 estimates 0.986x itself)."),
}


def match_arm(spec, reference, pricer: lce_cards.Pricer, echo=click.echo):
    """(spec, divisor): ``spec``'s widths matched to ``reference``'s ARM estimate within
    ``lce_cards.TOLERANCE``, in multiples of the coarsest of ``lce_cards.DIVISORS`` that
    reaches it; the finest divisor's ``BudgetMiss`` when none does."""
    from dwr_larq import dwr
    from dwr_larq.dwr.budget import Budget, BudgetMiss

    measures = {Budget.ARM: lambda candidate, input_size: pricer.estimate(candidate).instructions}
    for divisor in lce_cards.DIVISORS:
        try:
            return dwr.match_budget(spec, reference, by=Budget.ARM, tolerance=lce_cards.TOLERANCE, divisor=divisor,
                                    measures=measures), divisor
        except BudgetMiss as miss:
            echo(f"  multiples of {divisor}: {miss}")
            last = miss
    raise last


def equal_cost_card(name: str, entry: EqualCost, pricer: lce_cards.Pricer, echo=click.echo):
    """The zoo card ``name`` made as ``entry`` says, with its figures against ``entry.cost_of``."""
    from dwr_larq import zoo
    from dwr_larq.deploy.arm_cost import DESCRIPTION
    from dwr_larq.dwr.budget import Budget
    from dwr_larq.reshaping import card_figures
    from dwr_larq.zoo.cards import ModelCard

    layout, cost = zoo.get_card(entry.layout), zoo.get_card(entry.cost_of)
    spec, divisor = match_arm(layout.spec, cost.spec, pricer, echo)
    shipped = lce_cards.with_weights(name)
    if shipped and shipped.spec != spec:
        echo(f"  {name} has shipped weights: its spec stays, its figures are refreshed")
        spec, divisor = shipped.spec, shipped.source["divisor"]
    figures = card_figures(spec, cost.spec, arm=(pricer.estimate(spec).instructions, pricer.estimate(cost.spec).instructions))
    source = {
        "kind": SourceKind.EQUAL_COST,
        "layout_from": layout.name,
        "matched_to": cost.name,
        "budget": Budget.ARM,
        "tolerance": lce_cards.TOLERANCE,
        "divisor": divisor,
        "shortcut": spec.shortcut,
        "why": entry.why,
        "arm_estimate": DESCRIPTION,
        "made_by": f"python scripts/equal_cost_cards.py {name}",
    }
    stem = spec.stem
    description = (f"{layout.name}'s layout (depths {list(spec.depths)}, {spec.shortcut} shortcuts, a {stem.kernel_size}x"
                   f"{stem.kernel_size} stem {stem.width} wide) with widths {list(spec.widths)} in multiples of {divisor}, "
                   f"matched to {cost.name}'s ARM estimate: estimated {figures['arm_vs_source']}x its ARM instructions at "
                   f"{figures['binary_macs_vs_source']}x its binary MACs (the figures' ratios are to {cost.name}).")
    return ModelCard(name, cost.dataset, description, spec, source, shipped.weights if shipped else {}, figures)


@click.command()
@click.argument("names", nargs=-1)
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if a zoo card differs from what would be written.")
@click.option("--layout", help="With --cost-of: try this card's layout; print the match or the misses, write nothing.")
@click.option("--cost-of", help="The card whose ARM estimate --layout is matched to.")
@click.option("--shortcut", type=click.Choice(["conv", "pad"]), help="With --layout: its shortcuts changed to these first.")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=lce_cards.default_cache_dir,
              show_default=True, help="Where converted candidates are kept between runs.")
def main(names, check, layout, cost_of, shortcut, cache_dir):
    from dwr_larq import zoo
    from dwr_larq.atomic import write_atomically
    from dwr_larq.dwr.budget import BudgetMiss

    pricer = lce_cards.Pricer(cache_dir)
    if layout or cost_of:
        if not (layout and cost_of) or names or check:
            raise click.UsageError("--layout and --cost-of go together, without NAMES or --check")
        try:
            spec, reference = zoo.get_card(layout).spec, zoo.get_card(cost_of).spec
        except ValueError as error:
            raise click.ClickException(str(error)) from None
        click.echo(f"{layout} at {cost_of}'s ARM estimate ({pricer.estimate(reference).instructions / 1e6:.3f}M):")
        try:
            found, divisor = match_arm(spec.replace(shortcut=shortcut or spec.shortcut), reference, pricer)
        except BudgetMiss as miss:
            raise click.ClickException(
                f"no widths in multiples of {', '.join(map(str, lce_cards.DIVISORS))} reach {cost_of}'s ARM estimate within "
                f"±{lce_cards.TOLERANCE:.0%}; the closest, widths {list(miss.closest.widths)}, is {miss.error:+.1%} from it") from None
        click.echo(f"  widths {list(found.widths)} in multiples of {divisor}: "
                   f"{pricer.estimate(found).instructions / pricer.estimate(reference).instructions:.4f}x")
        return
    unknown = [n for n in names if n not in CARDS]
    if unknown:
        raise click.ClickException(f"not an equal-cost card: {', '.join(unknown)}; known: {', '.join(CARDS)}")
    stale = []
    for name in names or CARDS:
        click.echo(f"{name}:")
        card = equal_cost_card(name, CARDS[name], pricer)
        text = json.dumps(card.to_dict(), indent=2) + "\n"
        path = lce_cards.card_path(name, CARDS[name].file_stem)
        click.echo(f"  {card.description}")
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        elif not path.exists() or path.read_text() != text:
            write_atomically(path, text)
            click.echo(f"  wrote {path.relative_to(lce_cards.REPO)}")
    if stale:
        click.echo(f"out of date: {', '.join(stale)}; run python scripts/equal_cost_cards.py {' '.join(stale)}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
