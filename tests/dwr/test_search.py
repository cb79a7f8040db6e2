"""The width search's settings: the authors' defaults, eps="auto" and bad values."""

import numpy as np
import pytest

from dwr_larq import build
from dwr_larq.dwr import search
from dwr_larq.models.spec import BackboneSpec, StemSpec

TINY = BackboneSpec(block="bireal", depths=[1, 1], widths=[16, 32], strides=[1, 2], stem=StemSpec(width=8), input_size=16)


def redundant_channels(rng, patterns: int, copies: int, unique: int = 0, length: int = 64, noise: float = 0.01):
    """``patterns`` directions, each repeated ``copies`` times with a little noise, plus
    ``unique`` channels of their own: the search should find patterns + unique."""
    bases = rng.normal(size=(patterns, length))
    rows = [bases[i % patterns] + rng.normal(scale=noise, size=length) for i in range(patterns * copies)]
    rows += list(rng.normal(size=(unique, length)))
    return np.array(rows)


@pytest.mark.parametrize("patterns, copies, unique", [(10, 6, 0), (4, 10, 7), (24, 8, 3), (3, 20, 12)])
def test_auto_eps_recovers_the_number_of_distinct_channels(rng, patterns, copies, unique):
    channels = redundant_channels(rng, patterns, copies, unique)
    eps = search.knee_eps(channels, min_samples=5)
    clusters, noise = search.cluster_channels(channels, eps, 5, "cosine")
    assert (clusters, noise) == (patterns, unique)


def test_auto_eps_scales_with_how_tight_the_clusters_are(rng):
    tight = search.knee_eps(redundant_channels(rng, 8, 8, noise=0.005), 5)
    loose = search.knee_eps(redundant_channels(rng, 8, 8, noise=0.05), 5)
    assert tight < loose / 10


def test_auto_eps_on_channels_with_no_structure_keeps_them_apart(rng):
    channels = rng.normal(size=(40, 256))  # near-orthogonal: every channel is its own
    clusters, noise = search.cluster_channels(channels, search.knee_eps(channels, 5), 5, "cosine")
    assert clusters + noise >= 36


def test_auto_eps_does_not_chain_evenly_spread_channels_into_one_cluster(rng):
    # Low-dimensional random channels: k-distances rise evenly from small to large (as in
    # our Fashion-MNIST networks), so an eps on that curve would link them all.
    channels = rng.normal(size=(60, 6))
    eps = search.knee_eps(channels, 5)
    assert search.cluster_channels(channels, eps, 5, "cosine") == (0, 60)
    assert search.cluster_channels(channels, 0.3, 5, "cosine")[0] >= 1  # a middling eps does link some


def test_width_search_with_auto_eps_records_each_stages_choice(rng):
    model = build(TINY)
    images = rng.normal(size=(8, 16, 16, 3)).astype(np.float32)
    searched, stages = search.width_search(model, TINY, images, eps="auto")
    assert [stage.eps for stage in stages] == [
        pytest.approx(search.knee_eps(matrix, 5))
        for matrix in search.mean_feature_maps(model, search.stage_output_layers(model, TINY), images)
    ]
    assert all(0 < stage.eps <= 2 for stage in stages)
    assert searched.widths == tuple(stage.clusters + stage.noise for stage in stages)


def test_a_fixed_eps_is_recorded_on_every_stage(rng):
    model = build(TINY)
    images = rng.normal(size=(8, 16, 16, 3)).astype(np.float32)
    _, stages = search.width_search(model, TINY, images, eps=0.5)
    assert [stage.eps for stage in stages] == [0.5, 0.5]


def test_the_authors_settings_per_dataset_family():
    assert search.search_defaults(32) == search.SearchSettings(eps=0.021, min_samples=5, calibration_images=400)
    assert search.search_defaults(224) == search.SearchSettings(eps=0.008, min_samples=5, calibration_images=200)


@pytest.mark.parametrize(
    "eps, min_samples, message",
    [
        (0, 5, r"eps must be in \(0, 2\].*got 0"),
        (-0.1, 5, r"eps must be in \(0, 2\].*got -0.1"),
        (2.5, 5, r"eps must be in \(0, 2\].*got 2.5"),
        ("big", 5, r"eps must be a number in \(0, 2\] or 'auto', got 'big'"),
        (0.1, 0, r"min_samples must be an integer >= 1, got 0"),
        (0.1, 2.5, r"min_samples must be an integer >= 1, got 2.5"),
    ],
)
def test_bad_search_settings_are_named(rng, eps, min_samples, message):
    model = build(TINY)
    images = rng.normal(size=(8, 16, 16, 3)).astype(np.float32)
    with pytest.raises(ValueError, match=message):
        search.width_search(model, TINY, images, eps=eps, min_samples=min_samples)
