import pytest

from dwr_larq.models import blocks
from dwr_larq.models.spec import BLOCK_KINDS, BackboneSpec, StemSpec


def make(**changes):
    fields = dict(block="bireal", depths=[2, 2], widths=[32, 64], strides=[1, 2], stem=StemSpec(width=16))
    fields.update(changes)
    return BackboneSpec(**fields)


def test_block_kinds_match_the_builders():
    assert set(BLOCK_KINDS) == set(blocks.UNITS)


@pytest.mark.parametrize(
    "changes, field",
    [
        (dict(depths=[2, 0]), r"depths\[1\]"),
        (dict(widths=[0, 64]), r"widths\[0\]"),
        (dict(widths=[32, 2.5]), r"widths\[1\]"),
        (dict(strides=[1, -2]), r"strides\[1\]"),
        (dict(block="resnext"), "'block'"),
        (dict(widths=[32, 64, 128]), "same length"),
        (dict(depths=[], widths=[], strides=[]), "'depths' is empty"),
        (dict(stem=StemSpec(width=0)), r"stem\.width"),
    ],
)
def test_invalid_specs_name_the_field(changes, field):
    with pytest.raises(ValueError, match=field):
        make(**changes)


def test_round_trip_through_a_dict():
    spec = make()
    again = BackboneSpec.from_dict(spec.to_dict())
    assert again == spec
    assert again.stem == spec.stem and isinstance(again.stem, StemSpec)


def test_unknown_dict_field_is_named():
    data = make().to_dict()
    data["widht"] = [1]
    with pytest.raises(ValueError, match="widht"):
        BackboneSpec.from_dict(data)


def test_replace_validates_again():
    with pytest.raises(ValueError, match=r"depths\[0\]"):
        make().replace(depths=(0, 1))


def test_downsampling_counts_stem_and_stages():
    spec = make(stem=StemSpec(width=16, kernel_size=7, strides=2, max_pool=True), strides=[1, 2])
    assert spec.downsampling == 8
