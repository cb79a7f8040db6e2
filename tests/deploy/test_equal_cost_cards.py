"""The equal-cost cards' script (scripts/equal_cost_cards.py): the zoo's equal-cost cards are
its table's, and what it writes is what the zoo holds."""

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from dwr_larq import zoo

sys.path.insert(0, str(Path(__file__).parent.parent.parent / "scripts"))
import equal_cost_cards  # noqa: E402  (a script, imported from its folder)


def test_the_zoos_equal_cost_cards_are_the_scripts_and_name_it():
    cards = {n: zoo.get_card(n) for n in zoo.list_models() if zoo.get_card(n).source.get("kind") == "equal-cost"}
    assert set(cards) == set(equal_cost_cards.CARDS)
    for name, card in cards.items():
        entry = equal_cost_cards.CARDS[name]
        assert (card.source["layout_from"], card.source["matched_to"]) == (entry.layout, entry.cost_of)
        assert card.source["made_by"] == f"python scripts/equal_cost_cards.py {name}" and card.source["why"] == entry.why


@pytest.mark.parametrize("args, message", [
    (["--layout", "ResNet20"], "--layout and --cost-of go together, without NAMES or --check"),
    (["NoSuchCard"], "not an equal-cost card: NoSuchCard; known: ResNet20DWREqualARM"),
    (["--layout", "NoSuchCard", "--cost-of", "ResNet20"], "unknown model 'NoSuchCard'"),
])
def test_wrong_arguments_are_one_error_before_anything_is_converted(args, message, tmp_path):
    result = CliRunner().invoke(equal_cost_cards.main, [*args, "--cache-dir", str(tmp_path)])
    assert result.exit_code != 0 and message in result.output and "Traceback" not in result.output
    assert not list(tmp_path.iterdir())


@pytest.mark.slow  # converts about ten candidates: two to three minutes on a loaded 2-core host
def test_the_zoo_cards_are_what_the_script_writes(tmp_path):
    result = CliRunner().invoke(equal_cost_cards.main, ["--check", "--cache-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output


@pytest.mark.slow  # two conversions
def test_resnet20s_depths_at_the_narrowest_widths_still_cost_more_than_resnet20dwrlce(converted):
    """The script's reason to widen ResNet20DWRLCE rather than narrow ResNet-20 (its ``why``)."""
    from dwr_larq.deploy import arm_cost

    narrowest = zoo.get_card("ResNet20").spec.replace(shortcut="pad", widths=(8, 8, 8))
    ratio = arm_cost.estimate_spec(narrowest).instructions / arm_cost.estimate(converted("ResNet20DWRLCE")).instructions
    assert ratio == pytest.approx(1.54, abs=0.01)
