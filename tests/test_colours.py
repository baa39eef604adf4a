"""Tests for workbench.plots.colours: one stable, colour-blind-safe colour per name."""

import random

import pytest

from workbench.plots.colours import (
    DASHES,
    OKABE_ITO,
    PALETTE,
    REFERENCE,
    TOL_MUTED,
    ColourMap,
    colour_of,
    variants,
)


def test_palette_is_okabe_ito_then_tol_muted_without_duplicates_or_grey():
    assert len(set(PALETTE)) == len(PALETTE) == 17
    assert set(PALETTE) == set(OKABE_ITO) | set(TOL_MUTED)
    assert set(PALETTE[:7]) < set(OKABE_ITO)  # the strong Okabe-Ito colours come first
    assert REFERENCE not in PALETTE  # grey is kept for reference lines
    for c in PALETTE:
        r, g, b = (int(c[i : i + 2], 16) for i in (1, 3, 5))
        assert not (r == g == b and 0 < r < 255), f"{c} is a grey"


def test_a_name_keeps_its_colour_for_the_lifetime_of_the_map():
    cmap = ColourMap()
    names = [f"schedule-{i}" for i in range(40)]
    first = {}
    rng = random.Random(0)
    for _ in range(20):  # many assignments, in shuffled orders, with repeats
        batch = rng.sample(names, 10)
        for name, colour in zip(batch, cmap.assign(batch), strict=True):
            assert first.setdefault(name, colour) == colour
    for name in names:
        first.setdefault(name, cmap[name])
    assert {n: cmap[n] for n in names} == first
    order = list(cmap)
    assert sorted(order) == sorted(names) and len(cmap) == 40
    # colours are handed out in first-use order; the first 17 names get 17 different ones
    assert [cmap[n] for n in order[:17]] == list(PALETTE)
    assert cmap[order[17]] == PALETTE[0]  # then the palette is reused from the start


def test_preseeded_names_do_not_depend_on_what_is_drawn_first():
    kinds = ["wsd", "cosine", "linear", "constant"]
    a, b = ColourMap(kinds), ColourMap(kinds)
    assert a["constant"] == PALETTE[3]
    assert b.assign(["constant", "wsd"]) == [PALETTE[3], PALETTE[0]]
    assert a["drawn"] == PALETTE[4]  # a new name gets the next free colour


def test_a_plain_mapping_keeps_its_colours_and_others_get_unused_ones():
    cmap = colour_of({"wsd": PALETTE[1]})
    assert cmap["wsd"] == PALETTE[1]
    assert cmap.assign(["a", "b"]) == [PALETTE[0], PALETTE[2]]
    shared = ColourMap()
    assert colour_of(shared) is shared
    assert colour_of(None)["x"] == PALETTE[0]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(palette=[]), "palette is empty"),
        (dict(palette=["#000000", "#000000"]), "repeats a colour"),
    ],
)
def test_bad_palette_is_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ColourMap(**kwargs)


def test_colour_of_rejects_what_is_not_a_map():
    with pytest.raises(ValueError, match="colours=3 is not a colour map"):
        colour_of(3)


def test_variants_number_the_labels_of_one_key_in_order():
    labels = ["wsd", "cos", "wsd · decay@50", "wsd · decay@80", "cos · decay@50", "wsd"]
    got = variants(labels, lambda s: s.split(" · ")[0])
    assert got == {
        "wsd": ("wsd", 0),
        "cos": ("cos", 0),
        "wsd · decay@50": ("wsd", 1),
        "wsd · decay@80": ("wsd", 2),
        "cos · decay@50": ("cos", 1),
    }
    assert DASHES[0] == "solid" and "dot" not in DASHES  # dotted: diverged runs
