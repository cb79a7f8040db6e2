"""The LCE-tuned card search (scripts/lce_cards.py): its spec-only binary-MAC count, which
prunes candidates without building them, and the candidates it prices."""

import sys
from pathlib import Path

import pytest

from dwr_larq import zoo
from dwr_larq.models.spec import BackboneSpec, StemSpec

sys.path.insert(0, str(Path(__file__).parent.parent.parent / "scripts"))
import lce_cards  # noqa: E402  (a script, imported from its folder)


@pytest.mark.parametrize("name", [n for n in zoo.list_models() if "binary_macs" in zoo.get_card(n).figures])
def test_the_spec_count_of_binary_macs_is_the_recorded_one(name):
    card = zoo.get_card(name)
    assert lce_cards.binary_macs(card.spec) == card.figures["binary_macs"]


@pytest.mark.parametrize("name", ["ResNet20", "VGGSmallDWRAuthors", "ReActResNet20"])
def test_the_spec_count_of_binary_macs_is_larqs(name):
    """One basic, one VGG with a head conv (its convs run before the max pool), one ReAct CIFAR net."""
    from dwr_larq.models import costs

    spec = zoo.get_card(name).spec
    assert lce_cards.binary_macs(spec) == costs.measure_spec(spec).binary_macs


def test_every_backbone_is_at_the_originals_binary_macs_in_whole_words():
    original = zoo.get_card("BiRealResNet18").spec
    found = lce_cards.backbones(original, 2.0)
    assert len(found) >= 2 and len({spec for spec, _, _ in found}) == len(found)
    for spec, divisor, how in found:
        assert divisor == 32 and all(w % 32 == 0 for w in spec.widths) and spec.shortcut == "pad", how
        assert abs(lce_cards.binary_macs(spec) / lce_cards.binary_macs(original) - 1) <= lce_cards.TOLERANCE, how
    assert {spec.depths for spec, _, _ in found} == {(2, 2, 2, 2), (3, 3, 3, 3)}  # s=2 and s=1.5


def test_smaller_stems_go_from_the_least_change_on():
    resnet = zoo.get_card("BiRealResNet18").spec
    assert [(stem.kernel_size, stem.width) for stem, _ in lce_cards.smaller_stems(resnet)] == [(5, 64), (3, 64)]
    vgg = zoo.get_card("VGGSmall").spec  # its first stage reads the stem: narrower stems too
    assert [(stem.kernel_size, stem.width) for stem, _ in lce_cards.smaller_stems(vgg)] == [(3, 64), (3, 32)]


@pytest.mark.slow  # converts five small nets: about a minute on a loaded 2-core host
def test_the_search_takes_a_smaller_stem_only_when_the_backbones_miss_the_bound(tmp_path):
    """A tiny net whose 7x7 stem dominates: no backbone reaches 0.90x, the 5x5 or 3x3 stem does."""
    original = BackboneSpec(block="bireal", depths=[2, 2], widths=[32, 64], strides=[1, 2],
                            stem=StemSpec(width=32, kernel_size=7, strides=1), input_size=16, head=zoo.get_card("ResNet20").spec.head)
    best, base, priced = lce_cards.search(original, 2.0, lce_cards.Pricer(tmp_path), echo=lambda line: None)
    backbones = [p for p in priced if "stem" not in p.how]
    assert min(p.instructions for p in backbones) > lce_cards.ARM_BOUND * base.instructions
    assert best.spec.stem.kernel_size < 7 and best.instructions <= lce_cards.ARM_BOUND * base.instructions
    assert abs(lce_cards.binary_macs(best.spec) / lce_cards.binary_macs(original) - 1) <= lce_cards.TOLERANCE
    assert len(list(tmp_path.glob("*.tflite"))) == len(priced) + 1  # each candidate and the original converted once
