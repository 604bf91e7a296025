"""Split sizes and structure against SPEC b.1 (sizes verified on the authors' generator)."""

import numpy as np
import pytest

from rdvae.data import splits, tetrominoes

EXACT_SIZES = {
    "default": (81_920, 81_920),
    "checkerboard": (82_021, 81_819),
    "cv-0.05": (8_193, 155_647),
    "cv-0.1": (16_384, 147_456),
    "cv-0.15": (24_577, 139_263),
    "cv-0.2": (32_768, 131_072),
    "cv-0.25": (40_960, 122_880),
    "cv-0.3": (49_153, 114_687),
    "cv-0.35": (57_344, 106_496),
    "cv-0.4": (65_536, 98_304),
    "cd-0.1": (8_159, 8_275),
    "cd-0.2": (16_405, 16_286),
    "cd-0.3": (24_642, 24_592),
    "cd-0.4": (32_998, 32_754),
    "cd-0.5": (41_138, 40_954),
    "cd-0.6": (49_216, 49_285),
    "cd-0.7": (57_416, 57_403),
    "cd-0.8": (65_585, 65_563),
}


@pytest.mark.parametrize("name", EXACT_SIZES)
def test_exact_sizes(name):
    train, test = splits.get_split(name)
    assert (len(train), len(test)) == EXACT_SIZES[name]


@pytest.mark.parametrize("name", EXACT_SIZES)
def test_train_and_test_are_disjoint_sorted_indices(name):
    train, test = splits.get_split(name)
    assert train.dtype == np.int64 and test.dtype == np.int64
    assert np.all(np.diff(train) > 0) and np.all(np.diff(test) > 0)
    assert np.intersect1d(train, test).size == 0
    if not name.startswith("cd"):
        assert len(train) + len(test) == tetrominoes.N_IMAGES


def test_cv_training_sets_are_nested_and_default_is_cv_half():
    chain = [f"cv-{r}" for r in splits.CV_PAPER_RATIOS] + ["default"]
    for small, large in zip(chain, chain[1:], strict=False):
        assert np.isin(splits.get_split(small)[0], splits.get_split(large)[0]).all()
    for a, b in zip(splits.get_split("default"), splits.constant_volume(0.5), strict=True):
        np.testing.assert_array_equal(a, b)


def test_cd_is_the_default_split_cropped_to_a_centred_box():
    default_train, default_test = splits.get_split("default")
    train, test = splits.get_split("cd-0.3")
    assert np.isin(train, default_train).all() and np.isin(test, default_test).all()
    side = 0.3 ** (1 / 5)
    f = tetrominoes.factors()[np.concatenate([train, test])]
    for column, (lo, hi, _) in enumerate(tetrominoes.FACTOR_RANGES.values()):
        margin = (hi - lo) * (1 - side) / 2
        assert f[:, column].min() >= lo + margin and f[:, column].max() < hi - margin


def test_checkerboard_uses_half_of_the_32_hyper_cells():
    train, test = splits.get_split("checkerboard")
    f = tetrominoes.factors()
    mids = [(lo + hi) / 2 for lo, hi, _ in tetrominoes.FACTOR_RANGES.values()]
    halves = (f >= np.array(mids)).astype(int)  # (N, 5) in {0, 1}
    code = halves @ (2 ** np.arange(5))
    assert len(np.unique(code[train])) == 16 and len(np.unique(code[test])) == 16
    assert np.all(halves[train].sum(1) % 2 == 0) and np.all(halves[test].sum(1) % 2 == 1)


def test_splits_are_deterministic():
    first = [a.copy() for a in splits.get_split("cv-0.1")]
    splits._split.cache_clear()
    splits._permutation.cache_clear()
    tetrominoes._factors.cache_clear()
    for a, b in zip(first, splits.get_split("cv-0.1"), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("bad", ["nope", "cv-1.5", "cv-0", "cd-1", "cv-abc", "cv", "Default-0.1"])
def test_bad_split_names_say_what_is_valid(bad):
    with pytest.raises(ValueError) as err:
        splits.get_split(bad)
    message = str(err.value)
    assert repr(bad) in message and "cv-R" in message and "checkerboard" in message


def test_names_are_case_and_space_tolerant():
    for a, b in zip(splits.get_split(" CV-0.1 "), splits.get_split("cv-0.1"), strict=True):
        np.testing.assert_array_equal(a, b)


def test_describe_uses_the_papers_labels():
    assert splits.describe("cv-0.1") == "CV(16k/147k)"
    assert splits.describe("default") == "Default(82k/82k)"
    assert splits.describe("checkerboard") == "Checkerboard(82k/82k)"


def test_two_factor_schematic():
    s = splits.schematic_2d(ratio=0.25, seed=3)
    assert s["points"].shape == (600, 2)
    assert (s["default"] == 1).sum() == 300
    assert (s["cv"] == 1).sum() == 150
    inside = s["cd"] >= 0
    assert 0.15 < inside.mean() < 0.35  # a centred square of area 0.25
    np.testing.assert_array_equal(s["cd"][inside], s["default"][inside])


def test_a_split_is_computed_once_and_cannot_be_written():
    """Every RunConfig asks for its split, so get_split caches it; the arrays are shared, so read-only."""
    train, test = splits.get_split("cd-0.1")
    assert splits.get_split(" CD-0.10 ")[0] is train  # the same split, however it is spelled
    for array in (train, test):
        with pytest.raises(ValueError, match="read-only"):
            array[0] = 1
    np.testing.assert_array_equal(train, splits.constant_density(0.1)[0])  # uncached, same numbers
