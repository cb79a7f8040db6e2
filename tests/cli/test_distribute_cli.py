"""``dwr-larq train --dry-run`` of the authors' ImageNet recipes, distribution options'
bad input, and ``dwr-larq data-bench``."""

import json

import pytest
from click.testing import CliRunner

from dwr_larq.cli.common import CommandGroup
from dwr_larq.cli.main import main
from dwr_larq.cli.train import data_bench_command


def invoke(*args, group=main):
    return CliRunner().invoke(group, [str(a) for a in args])


def test_dry_run_of_the_reactnet_imagenet_recipe_prints_the_authors_numbers(tmp_path):
    result = invoke("train", "ReActResNet18DWR", "--dataset", "imagenet2012", "--data-dir", tmp_path,
                    "--recipe", "reactnet_imagenet", "--teacher", "ResNet50", "--dry-run", "--strategy", "one")
    assert result.exit_code == 0, result.output
    for line in [
        "step step1        256 epochs, real-valued weights, weight decay 1e-05",
        "step step2        256 epochs, binary weights, weight decay 0",
        "global batch      512 = 1 replica(s) x 512",
        "learning rate     0.001 (0.001 x 512 / 512 (linear scaling))",
        "schedule          cosine decay to 0 over each step",
        "teacher           ResNet50 (the authors distilled from a real-valued ResNet-34",
        "loss 1 x KL(teacher || student) + 0 x CE",
        "lighting 0.1",
        "strategy          one on CPU: 1 replica(s), 1 worker(s)",
        "steps per epoch   2503 (1281167 training images, from the recipe (imagenet2012 is not prepared here))",
    ]:
        assert line in result.output, line
    assert not list(tmp_path.iterdir())


def test_dry_run_of_the_bireal_imagenet_recipe_scales_the_learning_rate_with_the_batch(tmp_path):
    result = invoke("train", "ResNet18DWR", "--dataset", "imagenet2012", "--data-dir", tmp_path,
                    "--recipe", "bireal_imagenet", "--batch-size", "1024", "--mixed-precision", "--dry-run")
    assert result.exit_code == 0, result.output
    for line in ["step train        128 epochs, binary weights, weight decay 0",
                 "learning rate     0.002 (0.001 x 1024 / 512 (linear scaling))",
                 "label smoothing   0; lighting 0.1", "mixed precision   mixed_bfloat16",
                 "steps per epoch   1252", "teacher           none"]:
        assert line in result.output, line


@pytest.mark.parametrize(
    "options, message",
    [
        (["--strategy", "horovod"], "Invalid value for '--strategy': 'horovod' is not one of"),
        (["--mixed-precision", "float16"], "Invalid value for '--mixed-precision': 'float16' is not one of"),
        (["--strategy", "multiworker"], "strategy 'multiworker' needs TF_CONFIG set on every worker"),
        ([], "Missing option '--out'"),
    ],
)
def test_distribution_bad_input_is_one_clear_message(monkeypatch, tmp_path, options, message):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    out = [] if not options else ["--out", tmp_path / "run"]
    result = invoke("train", "ResNet20", "--dataset", "digits", "--epochs", 2, "--batch-size", 8, *out, *options)
    assert result.exit_code != 0 and message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "run").exists()


def test_data_bench_times_the_training_pipeline_on_generated_jpegs(tmp_path):
    group = CommandGroup(commands=[data_bench_command])
    result = invoke("data-bench", "--cache-dir", tmp_path, "--generate", 40, "--batch-size", 8, "--batches", 2,
                    "--cores", "1,2", "--json", group=group)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert [row["cores"] for row in report["rows"]] == [1, 2]
    assert all(row["images"] == 16 and row["images_per_second"] > 0 for row in report["rows"])
    assert len(list(tmp_path.glob("*/*.jpg"))) == 40
    bad = invoke("data-bench", "--cache-dir", tmp_path, "--cores", "0", group=group)
    assert bad.exit_code == 2 and "'0' is not a positive core count" in bad.output


def test_dry_run_of_a_full_precision_card_says_its_weights_stay_real_valued(tmp_path):
    card = tmp_path / "float.json"
    card.write_text(json.dumps({"name": "TinyFloat", "dataset": "cifar10", "description": "a float twin",
                                "spec": {"block": "basic", "depths": [1], "widths": [8], "strides": [1],
                                         "stem": {"width": 8}, "head": {"num_classes": 10}, "input_size": 16,
                                         "precision": "float"}}))
    result = invoke("train", card, "--dataset", "digits", "--recipe", "reactnet", "--epochs", "2", "--batch-size", "32", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "step step1        1 epochs, real-valued weights" in result.output
    assert "step step2        1 epochs, real-valued weights" in result.output
    assert "binary weights" not in result.output
