import json
import math
import warnings

import numpy as np
import pytest
from click.testing import CliRunner

from dwr_larq import build, zoo
from dwr_larq.models import costs
from dwr_larq import dwr, reshaping
from dwr_larq.cli.main import main
from dwr_larq.models.spec import BackboneSpec, StemSpec

TINY = BackboneSpec(block="bireal", depths=[2, 2], widths=[16, 32], strides=[1, 2], stem=StemSpec(width=8), input_size=16)


@pytest.mark.parametrize(
    "name, s, depths",
    [
        ("BiRealResNet18", 2, (2, 2, 2, 2)),
        ("ReActResNet18", 2, (2, 2, 2, 2)),
        ("ResNet18CIFAR", 2, (1, 1, 1, 1)),
        ("ResNet20", 3, (1, 1, 1)),
        ("ResNet20", 2, (2, 2, 2)),
    ],
)
def test_naive_keeps_binary_macs_and_cuts_activations_by_sqrt_s(name, s, depths):
    original = zoo.get_card(name).spec
    reshaped = dwr.naive(original, s, divisor=8)
    assert reshaped.depths == depths
    assert all(w % 8 == 0 for w in reshaped.widths)
    assert sum(reshaped.widths) > sum(original.widths)
    before = costs.measure_spec(original, input_size=32)
    after = costs.measure_spec(reshaped, input_size=32)
    assert after.binary_macs == pytest.approx(before.binary_macs, rel=0.10)
    # Output activations of binary convs scale with depth x width: down by about sqrt(s),
    # with s the depth ratio actually reached (3 blocks / 2 gives 2 blocks: s = 1.5).
    reached = sum(original.depths) / sum(reshaped.depths)
    assert after.activations_out / before.activations_out == pytest.approx(1 / math.sqrt(reached), rel=0.10)
    assert after.activations < before.activations


def test_naive_depths_round_half_up_and_stay_at_least_one():
    spec = zoo.get_card("ResNet20").spec.replace(depths=(1, 3, 6))
    assert dwr.naive(spec, 2).depths == (1, 2, 3)
    assert dwr.naive(spec, 10).depths == (1, 1, 1)


def test_naive_with_s_one_keeps_the_spec():
    spec = zoo.get_card("ResNet20").spec
    assert dwr.naive(spec, 1, divisor=1) == spec


@pytest.mark.parametrize("s", [0, 0.5, -2, "2", None])
def test_naive_rejects_s_below_one(s):
    with pytest.raises(ValueError, match="s must be a number >= 1"):
        dwr.naive(TINY, s)


def test_a_spec_with_no_stages_is_refused():
    with pytest.raises(ValueError, match="'depths' is empty"):
        BackboneSpec(block="bireal", depths=[], widths=[], strides=[])


def test_dbscan_finds_the_distinct_channels_of_redundant_feature_maps(rng):
    patterns = rng.normal(size=(10, 64))
    channels = np.array([patterns[i % 10] + rng.normal(scale=0.01, size=64) for i in range(64)])
    clusters, noise = dwr.cluster_channels(channels, eps=0.02, min_samples=5, metric="cosine")
    assert (clusters, noise) == (10, 0)


def test_dbscan_counts_unique_channels_as_noise(rng):
    patterns = rng.normal(size=(4, 64))
    redundant = [patterns[i % 4] + rng.normal(scale=0.01, size=64) for i in range(40)]
    unique = rng.normal(size=(7, 64))
    clusters, noise = dwr.cluster_channels(np.vstack([redundant, unique]), 0.02, 5, "cosine")
    assert clusters + noise == 11


@pytest.mark.parametrize(
    "spec, expected",
    [
        (TINY, ["stage1_block2_conv", "stage2_block2_conv"]),
        (TINY.replace(block="basic"), ["stage1_block2_unit2_conv", "stage2_block2_unit2_conv"]),
        (TINY.replace(block="reactnet_a"), ["stage1_block2_1x1_conv", "stage2_block2_1x1_conv"]),
        (TINY.replace(block="vgg", depths=(1, 1)), ["stage1_block1_conv", "stage2_block1_conv"]),
    ],
)
def test_the_width_search_reads_each_stages_last_binary_conv(spec, expected):
    model = build(spec)
    assert [layer.name for layer in dwr.stage_output_layers(model, spec)] == expected


def test_search_widths_returns_a_spec_with_the_distinct_channel_counts(rng):
    model = build(TINY)
    images = rng.normal(size=(12, 16, 16, 3)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        searched, stages = dwr.width_search(model, TINY, images, eps=0.3)
    assert searched.depths == TINY.depths
    assert list(searched.widths) == [stage.clusters + stage.noise for stage in stages]
    assert all(1 <= width <= channels for width, channels in zip(searched.widths, TINY.widths))
    assert dwr.search_widths(model, TINY, images, eps=0.3) == searched


def test_every_channel_noise_warns_with_the_stage(rng):
    model = build(TINY)
    images = rng.normal(size=(8, 16, 16, 3)).astype(np.float32)
    with pytest.warns(UserWarning, match=r"stage 1: eps=1e-09 makes every one of its 16 channels noise"):
        dwr.search_widths(model, TINY, images, eps=1e-9)


def test_one_cluster_warns_with_the_stage(rng):
    model = build(TINY)
    images = rng.normal(size=(8, 16, 16, 3)).astype(np.float32)
    with pytest.warns(UserWarning, match=r"stage 2: eps=2.0 puts all 32 channels in one cluster"):
        searched = dwr.search_widths(model, TINY, images, eps=2.0)
    assert searched.widths == (1, 1)


@pytest.mark.parametrize("count, message", [(0, "empty"), (1, r"1 image\(s\): give at least 5"),
                                            (4, r"4 image\(s\): give at least 5 \(no fewer than min_samples")])
def test_too_little_calibration_data(count, message, rng):
    model = build(TINY)
    with pytest.raises(ValueError, match=message):
        dwr.search_widths(model, TINY, rng.normal(size=(count, 16, 16, 3)).astype(np.float32))


def test_calibration_from_a_dataset_of_pairs(rng):
    import tensorflow as tf

    model = build(TINY)
    images = rng.normal(size=(8, 16, 16, 3)).astype(np.float32)
    pairs = tf.data.Dataset.from_tensor_slices((images, np.zeros(8, np.int32))).batch(3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert dwr.search_widths(model, TINY, pairs, eps=0.3) == dwr.search_widths(model, TINY, images, eps=0.3)


@pytest.mark.parametrize(
    "other, message",
    [
        (TINY.replace(widths=(16, 48)), "stage 2 ends with 32 channels .* the spec says width 48"),
        (TINY.replace(depths=(2, 2, 1), widths=(16, 32, 64), strides=(1, 2, 2)), "stage 3 has no binary conv"),
        (TINY.replace(depths=(2,), widths=(16,), strides=(1,)), "more than 1 stages"),
    ],
)
def test_a_model_that_does_not_match_its_spec(other, message):
    with pytest.raises(ValueError, match=message):
        dwr.stage_output_layers(build(TINY), other)


@pytest.mark.parametrize("by", ["binary_macs", "ops"])
def test_match_budget_lands_within_tolerance_and_keeps_proportions(by):
    reference = zoo.get_card("ResNet18CIFAR").spec
    searched = reference.replace(depths=(1, 1, 1, 1), widths=(40, 150, 200, 300))
    matched = reshaping.match_budget(searched, reference, by=by, tolerance=0.03)
    ratio = getattr(costs.measure_spec(matched), by) / getattr(costs.measure_spec(reference), by)
    assert abs(ratio - 1) <= 0.03
    factors = np.array(matched.widths) / np.array(searched.widths)
    assert factors.max() / factors.min() < 1.1


def test_match_budget_with_a_custom_budget():
    reference = TINY
    matched = dwr.match_budget(TINY.replace(widths=(4, 8)), reference, by=lambda spec: sum(spec.widths), tolerance=0.02)
    assert abs(sum(matched.widths) / sum(reference.widths) - 1) <= 0.02


def test_match_budget_says_by_how_much_rounding_makes_it_miss():
    from dwr_larq.dwr.budget import BudgetMiss

    with pytest.raises(BudgetMiss, match=r"multiples of 64 cannot reach ±1% .* widths \[64, 64\], is \+\d+\.\d% from it") as miss:
        reshaping.match_budget(TINY.replace(widths=(5, 7)), TINY, divisor=64, tolerance=0.01)
    assert miss.value.closest.widths == (64, 64) and miss.value.error > 0.01
    with pytest.warns(UserWarning, match=r"is \+\d+\.\d% from it"):
        assert reshaping.match_budget(TINY.replace(widths=(5, 7)), TINY, divisor=64, tolerance=0.01, on_miss="warn").widths == (64, 64)


def test_match_budget_steps_single_stages_when_one_factor_jumps_over_the_target():
    """Multiples of 64 on ResNet18DWR: one factor gives -12.1% or more than +2%; stepping stages reaches 2%."""
    from dwr_larq.dwr.budget import _stage_costs

    def binary_macs(spec):  # the blocks' TF-free cost model: no model to build
        return sum(_stage_costs(spec, spec.depths, spec.widths))

    reference = zoo.get_card("BiRealResNet18").spec
    dwr_spec = zoo.get_card("ResNet18DWR").spec
    uniform = dwr.scale_widths(dwr_spec, 1.0, 64)
    assert abs(binary_macs(uniform) / binary_macs(reference) - 1) > 0.02
    matched = dwr.match_budget(dwr_spec, reference, by=binary_macs, divisor=64, tolerance=0.02)
    assert all(w % 64 == 0 for w in matched.widths)
    assert abs(binary_macs(matched) / binary_macs(reference) - 1) <= 0.02


def test_match_budget_rejects_an_unknown_budget():
    with pytest.raises(ValueError, match="budget 'by'.* must be one of binary_macs, ops, latency, arm, got 'flops'"):
        dwr.match_budget(TINY, TINY, by="flops")


def test_the_method_measures_a_named_budget_only_with_a_measure_it_is_given():
    with pytest.raises(ValueError, match="no measure for budget 'arm': pass measures"):
        dwr.match_budget(TINY, TINY, by="arm")
    calls = []
    measures = {dwr.Budget.ARM: lambda spec, input_size: calls.append(input_size) or sum(spec.widths)}
    matched = dwr.match_budget(TINY.replace(widths=(4, 8)), TINY, by="arm", measures=measures, tolerance=0.02, input_size=24)
    assert abs(sum(matched.widths) / sum(TINY.widths) - 1) <= 0.02 and set(calls) == {24}


def test_every_named_budget_has_the_projects_measure():
    assert set(reshaping.MEASURES) == set(dwr.Budget)


def test_reshape_command_writes_a_loadable_card_with_provenance(tmp_path):
    out = tmp_path / "resnet20_dwr.json"
    args = ["reshape", "ResNet20", "--s", "3", "--dataset", "digits", "--train-images", "256",
            "--calibration-images", "64", "--pretrain-epochs", "1", "--eps", "0.3", "--out", str(out)]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    card = json.loads(out.read_text())
    source = card["source"]
    assert source["kind"] == "dwr" and source["reshaped_from"] == "ResNet20"
    assert (source["s"], source["eps"], source["calibration_images"]) == (3.0, 0.3, 64)
    assert (source["calibration_split"], source["authors_eps"]) == ("train", 0.021)
    assert len(source["stages"]) == 3 and card["spec"]["depths"] == [1, 1, 1]
    assert all(stage["eps"] == 0.3 for stage in source["stages"])
    # The search found redundant channels somewhere and the budget match scaled back up.
    assert any(stage["clusters"] + stage["noise"] < stage["channels"] for stage in source["stages"])
    assert source["searched_widths"] != card["spec"]["widths"]
    assert abs(card["figures"]["binary_macs_vs_source"] - 1) <= 0.05
    model = zoo.get_model(str(out))
    assert model.name == "ResNet20DWR" and model.output_shape == (None, 10)
    assert costs.measure(model).binary_macs == card["figures"]["binary_macs"]


def test_reshape_command_bad_input_writes_nothing(tmp_path):
    out = tmp_path / "card.json"
    for args, message in [
        (["reshape", "ResNet2O", "--out", str(out)], "did you mean ResNet20"),
        (["reshape", "ResNet20", "--s", "0.5", "--train-images", "16", "--pretrain-epochs", "1", "--out", str(out)], "s must be"),
        (["reshape", "ResNet20", "--dataset", "no_such_dataset", "--out", str(out)], "no_such_dataset"),
        (["reshape", "ResNet20", "--out", str(tmp_path / "no" / "card.json")], "does not exist"),
        (["reshape", "ResNet20", "--eps", "3", "--out", str(out)], "eps must be in (0, 2]"),
        (["reshape", "ResNet20", "--eps", "wide", "--out", str(out)], "'wide' is neither a number nor 'auto'"),
    ]:
        result = CliRunner().invoke(main, args)
        assert result.exit_code != 0 and message in result.output, (args, result.output)
    assert list(tmp_path.iterdir()) == []
