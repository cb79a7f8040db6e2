"""Find and write the zoo's LCE-tuned cards (``<DWR name>LCE``): reshapes of an original
at its binary MACs (within 2%) that cost at most 0.90x its ARM estimate.

    python scripts/lce_cards.py                      # every pair in PAIRS; writes zoo/NN_<name>.json
    python scripts/lce_cards.py ReActNetADWR --dry-run
    python scripts/lce_cards.py --table              # the README's table of the cards' recorded figures

The search, for the original of each DWR card (library only, no training):

1. Backbones: ``dwr.naive(original, s, 32)`` at the DWR card's depth divisor ``s`` (and
   1.5 when that is larger; VGG's depths cannot shrink, so there the first stage's width
   is moved to the later, smaller maps instead), zero-padded shortcuts (a pad in place of
   a float 1x1 conv at the same binary MACs is never dearer, so conv shortcuts are not
   priced), the first stage at its own or the original's width; each matched to the
   original's binary MACs with ``dwr.match_budget`` (widths in multiples of 32, then 16 and
   8 where 32 cannot reach ±2%, as on the narrow CIFAR ResNet-20). Binary MACs are
   counted from the spec (``binary_macs``), so candidates are pruned without building one.
2. Each backbone is converted with LCE once (flatbuffers cached under ``--cache-dir``) and
   priced with the ARM estimate (``dwr_larq.deploy.arm_cost``).
3. If none reaches 0.90x with the original's stem, the cheapest backbone gets the smaller
   stems in turn (kernel 7 -> 5 -> 3, same width and stride): the float stem conv is up
   to 40% of a ResNet-18's instructions, which no binary reshaping at equal binary MACs
   removes. The least stem change that reaches the bound wins; the cheapest candidate
   otherwise, with the blocker printed (its ops by type against the original's).

The width search is not run: it needs a pre-trained network. A card with shipped weights
is never given another spec (its figures are refreshed only).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import click

from dwr_larq.zoo.cards import SourceKind

REPO = Path(__file__).resolve().parent.parent
ZOO = REPO / "zoo"
DIVISORS = (32, 16, 8)
TOLERANCE = 0.02
ARM_BOUND = 0.90
# The DWR cards whose originals get a tuned card: ResNet-20, ResNet-18 CIFAR, the ImageNet ResNets, ReActNet-A, VGG-Small.
PAIRS = ("ResNet20DWR", "ResNet18CIFARDWR", "ResNet18DWR", "ReActResNet18DWR", "ResNet34DWR", "ReActNetADWR", "VGGSmallDWR")
EXTRA_DEPTH_DIVISOR = 1.5
STAGE0_FACTORS = (0.75, 0.5)  # where depths cannot shrink: the first stage's width, moved to later stages
STEM_KERNELS = (5, 3)


def binary_macs(spec) -> int:
    """The spec's binary MACs counted from its stages (``models.kinds``), no Keras model:
    each unit's MACs per output pixel times the pixels its convs run at ('same' padding;
    a VGG stage convolves before its max pool), plus the head's binary conv."""
    from dwr_larq.models.kinds import KINDS, conv3x3_macs

    kind = KINDS[spec.block]
    side = math.ceil(spec.input_size / spec.stem.strides)
    side = math.ceil(side / 2) if spec.stem.max_pool else side
    channels = spec.widths[0] if kind.aligns_stem and spec.stem.widening == "align" else spec.stem.width
    total = 0
    for depth, width, stride in zip(spec.depths, spec.widths, spec.strides):
        out = math.ceil(side / stride)
        first = side if spec.block == "vgg" else out
        units = depth * kind.units_per_block
        total += first**2 * kind.binary_macs(channels, width) + (units - 1) * out**2 * kind.binary_macs(width, width)
        side, channels = out, width
    if spec.head.conv_width is not None:
        total += side**2 * conv3x3_macs(channels, spec.head.conv_width)
    return total


def depth_divisor(original, reshaped) -> float:
    """The ``s`` a DWR card used: the largest per-stage depth ratio."""
    return max(a / b for a, b in zip(original.depths, reshaped.depths))


def matched(start, original, divisor: int, keep=()):
    """``start`` with widths scaled to ``original``'s binary MACs (±2%), or None."""
    from dwr_larq import dwr
    from dwr_larq.dwr.budget import BudgetMiss

    try:
        return dwr.match_budget(start, original, by=binary_macs, tolerance=TOLERANCE, divisor=divisor, keep=keep)
    except BudgetMiss:
        return None


def backbones(original, s: float) -> list:
    """(spec, divisor, how) of every backbone the search prices, each at the original's binary MACs."""
    from dwr_larq import dwr
    from dwr_larq.dwr.budget import round_width
    from dwr_larq.models.kinds import KINDS

    # Zero-padded shortcuts replace a float 1x1 conv by a pad at the same binary MACs: never dearer, so the conv ones are not priced.
    shortcuts = ("pad",) if KINDS[original.block].projects_shortcut else (original.shortcut,)
    divisors = [s] + ([EXTRA_DEPTH_DIVISOR] if s > EXTRA_DEPTH_DIVISOR else [])
    found = {}
    for divisor in DIVISORS:
        for depth_s in divisors:
            start = dwr.naive(original, depth_s, divisor=divisor)
            first_widths = [(original.widths[0], "first stage at the original's width")]
            if start.depths == original.depths:
                first_widths = [(round_width(original.widths[0] * f, divisor), f"first stage at {f:g}x width")
                                for f in STAGE0_FACTORS]
            for shortcut in shortcuts:
                candidates = [(start.replace(shortcut=shortcut), (), "all stages scaled")]
                candidates += [(start.replace(shortcut=shortcut, widths=(w,) + start.widths[1:]), (0,), how) for w, how in first_widths]
                for spec, keep, how in candidates:
                    tuned = matched(spec, original, divisor, keep)
                    if tuned is not None and tuned != original and tuned not in found:
                        shown = f"{shortcut} shortcuts, " if KINDS[original.block].projects_shortcut else ""
                        found[tuned] = (divisor, f"s={depth_s:g}, {shown}{how}")
        if found:  # the coarsest divisor that reaches the budget
            break
    return [(spec, divisor, how) for spec, (divisor, how) in found.items()]


@dataclass
class Priced:
    spec: object
    divisor: int
    how: str
    arm: object = field(repr=False)  # ArmEstimate

    @property
    def instructions(self) -> float:
        return self.arm.instructions


class Pricer:
    """Converts specs with LCE and estimates them; flatbuffers kept under ``cache_dir`` by spec."""

    def __init__(self, cache_dir: Path):
        self.cache_dir = Path(cache_dir)

    def flatbuffer(self, spec) -> bytes:
        import larq_compute_engine

        key = hashlib.sha256((json.dumps(spec.to_dict(), sort_keys=True) + larq_compute_engine.__version__).encode()).hexdigest()[:20]
        path = self.cache_dir / f"{key}.tflite"
        if not path.exists():
            from dwr_larq.atomic import write_atomically
            from dwr_larq.deploy.convert import to_flatbuffer
            from dwr_larq.models.builder import measure_at_size

            self.cache_dir.mkdir(parents=True, exist_ok=True)
            write_atomically(path, measure_at_size(spec, to_flatbuffer))
        return path.read_bytes()

    def estimate(self, spec):
        from dwr_larq.deploy import arm_cost

        result = arm_cost.estimate(self.flatbuffer(spec))
        arm_cost.require_complete(result, f"depths {list(spec.depths)}, widths {list(spec.widths)}")
        return result


def smaller_stems(spec) -> list:
    """(stem, what) in order of change: kernel 7 -> 5 -> 3, then (where the first stage reads
    the stem directly, as VGG's does) half the width, down to 32."""
    from dwr_larq.models.kinds import KINDS

    stems = [(dataclasses.replace(spec.stem, kernel_size=k), f"{k}x{k} stem") for k in STEM_KERNELS if k < spec.stem.kernel_size]
    last = stems[-1][0] if stems else spec.stem
    if not KINDS[spec.block].aligns_stem:
        width = last.width // 2
        while width >= 32:
            stems.append((dataclasses.replace(last, width=width), f"{last.kernel_size}x{last.kernel_size} stem {width} wide"))
            width //= 2
    return stems


def search(original, s: float, pricer: Pricer, echo=click.echo) -> tuple:
    """(best Priced, the original's estimate, every Priced): the least stem change that
    reaches ``ARM_BOUND``, the cheapest there; else the cheapest found."""
    base = pricer.estimate(original)

    def price(spec, divisor, how):
        priced.append(Priced(spec, divisor, how, pricer.estimate(spec)))
        echo(f"  {how}: depths {list(spec.depths)} widths {list(spec.widths)}: ARM "
             f"{priced[-1].instructions / base.instructions:.4f}x, binary MACs {binary_macs(spec) / binary_macs(original):.4f}x")
        return priced[-1]

    priced = []
    for spec, divisor, how in backbones(original, s):
        price(spec, divisor, how)
    best = min(priced, key=lambda p: p.instructions)
    backbone = best.how
    for stem, what in smaller_stems(original):
        if best.instructions <= ARM_BOUND * base.instructions:
            break
        spec = best.spec.replace(stem=stem)
        if binary_macs(spec) != binary_macs(best.spec):  # the first stage read the old stem's width: match again
            spec = matched(spec, original, best.divisor)
            if spec is None:
                continue
        candidate = price(spec, best.divisor, f"{backbone}, {what}")
        best = min(best, candidate, key=lambda p: p.instructions)
    return best, base, priced


def blocker(best: Priced, base) -> str:
    """Where the instructions of the best candidate stay, by op type, against the original's."""
    mine, theirs = best.arm.by_op_type(), base.by_op_type()
    total = base.instructions
    rows = [f"{op} {(mine.get(op, {}).get('arm_instructions') or 0) / 1e6:.1f}M (original {(theirs.get(op, {}).get('arm_instructions') or 0) / 1e6:.1f}M)"
            for op in sorted(set(mine) | set(theirs), key=lambda op: -(mine.get(op, theirs.get(op))["arm_instructions"] or 0))[:5]]
    return f"{best.instructions / total:.4f}x of the original's {total / 1e6:.1f}M; largest: " + ", ".join(rows)


def card_files() -> dict:
    """Card name -> its file in zoo/."""
    return {json.loads(p.read_text())["name"]: p for p in sorted(ZOO.glob("[0-9][0-9]_*.json"))}


def card_path(name: str, file_stem: str) -> Path:
    """The card's file: its own if it exists, else ``NN_<file_stem>.json`` with the next number."""
    existing = card_files()
    if name in existing:
        return existing[name]
    number = max(int(p.name[:2]) for p in existing.values()) + 1
    return ZOO / f"{number:02d}_{file_stem}.json"


def with_weights(name: str):
    """The zoo card ``name`` if it has weights, else None: its weights fit its spec only,
    so a rerun keeps that spec (and the weights) and refreshes its figures."""
    from dwr_larq import zoo

    return zoo.get_card(name) if name in zoo.list_models() and zoo.get_card(name).weights else None


def tuned_card(dwr_name: str, pricer: Pricer, s: float | None = None, echo=click.echo):
    """(card, figures, bound met) of the tuned version of the zoo's ``dwr_name``'s original."""
    from dwr_larq import zoo
    from dwr_larq.deploy.arm_cost import DESCRIPTION
    from dwr_larq.dwr.budget import Budget
    from dwr_larq.models.kinds import KINDS
    from dwr_larq.reshaping import card_figures
    from dwr_larq.zoo.cards import ModelCard

    reshaped = zoo.get_card(dwr_name)
    original = zoo.get_card(reshaped.source["reshaped_from"])
    s = s or depth_divisor(original.spec, reshaped.spec)
    best, base, _ = search(original.spec, s, pricer, echo)
    spec = best.spec
    name = f"{dwr_name}LCE"
    shipped = with_weights(name)
    if shipped and shipped.spec != spec:
        echo(f"  {name} has shipped weights: its spec stays, its figures are refreshed")
        spec = shipped.spec
        best = Priced(spec, shipped.source["divisor"], "the shipped card", pricer.estimate(spec))
    figures = card_figures(spec, original.spec, arm=(best.instructions, base.instructions))
    met = figures["arm_vs_source"] <= ARM_BOUND and abs(figures["binary_macs_vs_source"] - 1) <= TOLERANCE
    source = {
        "kind": SourceKind.DWR_LCE,
        "reshaped_from": original.name,
        "depths_from": dwr_name,
        "reference": "Xue et al., AAAI 2023 (naive reshaping and budget matching; no width search, which needs training)",
        "s": s,
        "divisor": best.divisor,
        "shortcut": spec.shortcut,
        "search": best.how,
        "budget": Budget.BINARY_MACS,
        "tolerance": TOLERANCE,
        "arm_estimate": DESCRIPTION,
        "made_by": f"python scripts/lce_cards.py {dwr_name}" + (f" --s {s:g}" if s != depth_divisor(original.spec, reshaped.spec) else ""),
    }
    if not met:
        source["blocker"] = blocker(best, base)
    stem = "" if spec.stem == original.spec.stem else f", a {spec.stem.kernel_size}x{spec.stem.kernel_size} stem {spec.stem.width} wide"
    shortcuts = f", {spec.shortcut} shortcuts" if KINDS[spec.block].projects_shortcut else ""
    description = (f"{original.name} reshaped for LCE's ARM kernels: depths {list(spec.depths)}, widths {list(spec.widths)} "
                   f"in multiples of {best.divisor} at the original's binary MACs{shortcuts}{stem}; "
                   f"estimated {figures['arm_vs_source']}x the original's ARM instructions.")
    return ModelCard(name, original.dataset, description, spec, source, shipped.weights if shipped else {}, figures), figures, met


def figures_table() -> str:
    """Markdown: every tuned card against its original, from the figures the card records."""
    from dwr_larq import zoo
    from dwr_larq.formatting import markdown_table
    from dwr_larq.models.kinds import KINDS

    rows = []
    for name in zoo.list_models():
        card = zoo.get_card(name)
        if card.source.get("kind") != SourceKind.DWR_LCE:
            continue
        f, spec = card.figures, card.spec
        shortcut = spec.shortcut if KINDS[spec.block].projects_shortcut else "-"
        rows.append([card.source["reshaped_from"], name, f"{list(spec.depths)} x {list(spec.widths)}", shortcut,
                     f"{spec.stem.kernel_size}x{spec.stem.kernel_size}/{spec.stem.strides}, {spec.stem.width}",
                     f"{f['arm_vs_source']:.3f}", f"{f['binary_macs_vs_source']:.3f}", f"{f['activations_vs_source']:.3f}"])
    return markdown_table(["original", "tuned card", "depths x widths", "shortcut", "stem", "ARM est. x", "binary MACs x",
                           "activations x"], rows)


def default_cache_dir() -> Path:
    from dwr_larq import home

    return home.folder(home.Folder.LCE_CARDS)


@click.command()
@click.argument("names", nargs=-1)
@click.option("--s", "s", type=click.FloatRange(min=1), help="Depth divisor (default: each DWR card's).")
@click.option("--dry-run", is_flag=True, help="Print the figures; write no card.")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=default_cache_dir, show_default=True,
              help="Where converted candidates are kept between runs.")
@click.option("--table", is_flag=True, help="Write the cards' figures between the README's lce-pairs markers; reshape nothing.")
def main(names, s, dry_run, cache_dir, table):
    from dwr_larq import zoo
    from dwr_larq.atomic import write_atomically

    if table:
        sys.path.insert(0, str(Path(__file__).parent))
        from benchmark_table import replace_section, write_or_check  # this folder's script

        readme = REPO / "README.md"
        text = readme.read_text()
        write_or_check(readme, text, replace_section(text, figures_table(), str(readme), "lce-pairs"), False,
                       "the lce-pairs table", "python scripts/lce_cards.py --table")
        click.echo(f"{readme.name}: lce-pairs table from the cards")
        return
    unknown = [n for n in names if n not in zoo.list_models() or not zoo.get_card(n).source.get("reshaped_from")]
    if unknown:
        raise click.ClickException(f"not a reshaped zoo card: {', '.join(unknown)}")
    pricer = Pricer(cache_dir)
    for dwr_name in names or PAIRS:
        click.echo(f"{dwr_name}LCE:")
        card, figures, met = tuned_card(dwr_name, pricer, s)
        shown = ", ".join(f"{k} {figures[k]}" for k in ("arm_vs_source", "binary_macs_vs_source", "activations_vs_source"))
        click.echo(f"  chosen ({card.source['search']}): depths {list(card.spec.depths)} widths {list(card.spec.widths)}: {shown}")
        if not met:
            click.echo(f"  misses 0.90x: {card.source['blocker']}")
        if not dry_run:
            path = card_path(card.name, f"{card_files()[dwr_name].stem[3:]}_lce")
            write_atomically(path, json.dumps(card.to_dict(), indent=2) + "\n")
            click.echo(f"  wrote {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
