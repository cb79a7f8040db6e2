"""Every closed set of names (crops, schedules, dataset readers, benchmark items, card
sources, budgets) refuses an unknown name with one error listing the valid ones, where
a typo used to fall through to a default branch."""

import dataclasses
import json

import pytest
from click.testing import CliRunner

from conftest import tiny_card
from dwr_larq.cli.main import main
from dwr_larq.deploy import benchmark
from dwr_larq.dwr.budget import Budget
from dwr_larq.training import data, keras_datasets, recipes
from dwr_larq.zoo.cards import ModelCard


def _card(kind):
    return ModelCard.from_dict({**tiny_card(), "source": {"kind": kind}}, origin="tiny.json")


CASES = {
    "crop": (lambda: data.Policy("pad-crop"), "augmentation policy kind must be one of inception, pad_crop, got 'pad-crop'"),
    "schedule": (lambda: recipes.RECIPES["bireal"].replace(schedule="cosin"),
                 "recipe 'bireal': schedule must be one of cosine, linear, got 'cosin'"),
    "reader": (lambda: dataclasses.replace(keras_datasets.DATASETS["mnist"], reader="npy"),
               "dataset 'mnist': reader must be one of idx, npz, cifar10, cifar100, got 'npy'"),
    "benchmark item": (lambda: benchmark.Source("x", "x", "keras"),
                       "benchmark item kind must be one of zoo, card, larq-zoo, tflite, got 'keras'"),
    "card source": (lambda: _card("dwr_lce"), "tiny.json: source.kind must be one of paper, dwr, dwr-lce, study, teacher, equal-cost, got 'dwr_lce'"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_an_unknown_name_is_one_error_listing_the_valid_ones(case):
    make, message = CASES[case]
    with pytest.raises(ValueError) as error:
        make()
    assert str(error.value) == message


def test_known_names_become_their_members_and_still_read_as_strings():
    policy = data.Policy("inception")
    assert policy.kind is data.Crop.INCEPTION and policy == data.INCEPTION
    assert recipes.RECIPES["reactnet"].schedule is recipes.Schedule.LINEAR
    assert keras_datasets.DATASETS["cifar100"].reader is keras_datasets.Reader.CIFAR100
    assert _card("dwr-lce").source["kind"] == "dwr-lce"
    assert json.dumps({"budget": Budget.ARM, "kind": benchmark.SourceKind.LARQ_ZOO}) == '{"budget": "arm", "kind": "larq-zoo"}'


def test_a_card_file_with_an_unknown_source_kind_is_one_cli_error(tmp_path):
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps({**tiny_card(), "source": {"kind": "papr"}}))
    result = CliRunner().invoke(main, ["summary", str(path), "--no-arm"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"{path}: source.kind must be one of paper, dwr, dwr-lce, study, teacher, equal-cost, got 'papr'" in result.output
