"""The dataset: the generator's exact random protocol, and the renderer's geometry and colour."""

import cv2
import numpy as np
import pytest
from exact_coverage import exact_coverage

from rdvae.data import stats, tetrominoes

RNG = np.random.default_rng(12345)
SAMPLE = np.sort(RNG.choice(tetrominoes.N_IMAGES, size=60, replace=False))


def test_factor_array_shape_and_ranges():
    f = tetrominoes.factors()
    assert f.shape == (163_840, 5) and f.dtype == np.float64
    for column, (lo, hi, _) in enumerate(tetrominoes.FACTOR_RANGES.values()):
        assert lo <= f[:, column].min() and f[:, column].max() < hi


def test_one_sample_per_stratification_cell_in_cell_order():
    cells = tetrominoes.cell_index(tetrominoes.factors())
    np.testing.assert_array_equal(cells, np.arange(tetrominoes.N_IMAGES))


def test_realised_extremes_match_the_authors_sample():
    # SPEC a.1, checked on the authors' generator: these pin down the MT19937 stream and cell order.
    f = tetrominoes.factors()
    expected_min = [0.002, 1.6e-6, 2.000004, 8.00003, 8.00003]
    expected_max = [337.496, 0.874999, 4.99998, 22.9999, 22.9999]
    np.testing.assert_allclose(f.min(axis=0)[[0, 2]], np.array(expected_min)[[0, 2]], atol=6e-4)
    assert f[:, 1].min() == pytest.approx(1.6e-6, abs=1e-7)
    np.testing.assert_allclose(f.max(axis=0)[:3], expected_max[:3], atol=6e-4)
    assert f[:, 3].min() == pytest.approx(8.00003, abs=1e-5)
    assert f[:, 3:].max() == pytest.approx(22.9999, abs=1e-4)


def test_factors_are_deterministic():
    first = tetrominoes.factors().copy()
    tetrominoes._factors.cache_clear()
    np.testing.assert_array_equal(first, tetrominoes.factors())


def _authors_pipeline(rotation, hue, scale, x, y):
    """Transcription of the generator's get_data_by_label: full 512 x 512 canvas, INTER_AREA flag."""
    template = np.zeros((300, 200), dtype=np.float32)
    template[:, 100:] = 1
    template[200:, :] = 1
    s = scale / 100 * 16
    t1 = np.eye(3)
    t1[0, 2], t1[1, 2] = -100, -150
    r = np.eye(3)
    r[0, 0] = s * np.cos(rotation * np.pi / 180)
    r[0, 1] = s * np.sin(rotation * np.pi / 180)
    r[1, 0], r[1, 1] = -r[0, 1], r[0, 0]
    t2 = np.eye(3)
    t2[0, 2], t2[1, 2] = 16 * (x + 0.5), 16 * (y + 0.5)
    dst = cv2.warpAffine(template, (t2 @ r @ t1)[:-1], (512, 512), flags=cv2.INTER_AREA)
    dst = cv2.resize(dst, (32, 32), interpolation=cv2.INTER_AREA)
    dst = np.repeat(dst[..., None], 3, axis=2)
    dst[..., 1] = 1
    dst[..., 0] = hue * 360
    return np.clip(cv2.cvtColor(dst, cv2.COLOR_HSV2RGB), 0, 1).transpose(2, 0, 1)


def test_render_matches_the_authors_opencv_pipeline():
    f = tetrominoes.factors()[SAMPLE]
    ours = tetrominoes.render(f)
    theirs = np.stack([_authors_pipeline(*row) for row in f])
    assert np.abs(ours - theirs).max() <= 1e-3


def test_render_output_type_and_range():
    images = tetrominoes.render(tetrominoes.factors()[SAMPLE[:8]])
    assert images.shape == (8, 3, 32, 32) and images.dtype == np.float32
    assert images.min() >= 0 and images.max() <= 1


def test_coverage_matches_exact_polygon_area():
    # Independent geometry: exact area of the mapped J in each pixel, no OpenCV involved.  A quarter
    # pixel shift or a flipped rotation gives per-pixel errors of 0.25 and 1.0.
    for rotation, _, scale, x, y in tetrominoes.factors()[SAMPLE[:25]]:
        ours = tetrominoes.coverage(rotation, scale, x, y)
        exact = exact_coverage(tetrominoes._affine(rotation, scale, x, y))
        assert np.abs(ours - exact).max() < 0.02
        assert abs(ours.sum() - exact.sum()) < 0.02


@pytest.mark.parametrize("scale", [2.0, 3.3, 4.9])
def test_total_coverage_is_four_blocks(scale):
    for rotation in (0.0, 37.0, 90.0, 201.5):
        area = tetrominoes.coverage(rotation, scale, 15.5, 15.5).sum()
        assert area == pytest.approx(4 * scale**2, rel=5e-3)


def _centroid(cover):
    rows, cols = np.indices(cover.shape) + 0.5  # pixel centres; pixel j covers [j, j + 1]
    return (cover * cols).sum() / cover.sum(), (cover * rows).sum() / cover.sum()


def test_positive_rotation_turns_counter_clockwise_on_screen():
    # The J's centroid sits 1/4 block right of and 1/4 block below its bounding-box centre: (+1, +1)
    # pixels at scale 4.  A counter-clockwise quarter turn on screen (y down) maps (a, b) to (b, -a).
    centre = 15.5 + 0.5 + 1 / 32  # where the bbox centre lands for x = y = 15.5
    cx, cy = _centroid(tetrominoes.coverage(0.0, 4.0, 15.5, 15.5))
    assert (cx - centre, cy - centre) == pytest.approx((1.0, 1.0), abs=0.05)
    cx, cy = _centroid(tetrominoes.coverage(90.0, 4.0, 15.5, 15.5))
    assert (cx - centre, cy - centre) == pytest.approx((1.0, -1.0), abs=0.05)


def test_value_channel_is_coverage_whatever_the_hue():
    rotation, _, scale, x, y = tetrominoes.factors()[SAMPLE[0]]
    frames = tetrominoes.render(np.array([[rotation, h, scale, x, y] for h in (0.0, 0.2, 0.5, 0.8)]))
    values = frames.max(axis=1)  # with S = 1, max(R, G, B) = V
    for v in values:
        np.testing.assert_allclose(v, tetrominoes.coverage(rotation, scale, x, y), atol=1e-6)


def test_parallel_render_equals_serial():
    f = tetrominoes.factors()[SAMPLE]
    np.testing.assert_array_equal(tetrominoes.render(f, workers=2), tetrominoes.render(f))


def test_images_without_the_full_cache_render_each_row_once_and_match_render(monkeypatch):
    rendered = []
    real_render = tetrominoes.render
    monkeypatch.setattr(tetrominoes, "render", lambda f: rendered.append(len(f)) or real_render(f))
    monkeypatch.setattr(tetrominoes, "_rendered_rows", {})
    monkeypatch.setattr(tetrominoes, "full_cache_ready", lambda: False)
    first, again = SAMPLE[:6], np.array([SAMPLE[5], SAMPLE[7], SAMPLE[5], SAMPLE[0]])
    a = tetrominoes.images(first)
    a[:] = -1  # the caller owns what it gets: the kept rows must not change
    b = tetrominoes.images(again)
    np.testing.assert_array_equal(b, real_render(tetrominoes.factors()[again]))
    assert rendered == [6, 1]  # only SAMPLE[7] was new the second time
    assert tetrominoes.images([]).shape == (0, 3, 32, 32)

    monkeypatch.setattr(tetrominoes, "RENDERED_ROWS_KEPT", 2)  # past the limit: render as asked
    np.testing.assert_array_equal(
        tetrominoes.images(SAMPLE[:4]), real_render(tetrominoes.factors()[SAMPLE[:4]])
    )

    # a request that fits the limit but not beside what is kept, and shares a kept row (the blocks
    # of a whole-test-set neighbour search): the kept rows make room, the shared one is not lost
    monkeypatch.setattr(tetrominoes, "RENDERED_ROWS_KEPT", 3)
    monkeypatch.setattr(tetrominoes, "_rendered_rows", {})
    tetrominoes.images(SAMPLE[:3])
    overlapping = np.array([SAMPLE[2], SAMPLE[8], SAMPLE[9]])
    np.testing.assert_array_equal(
        tetrominoes.images(overlapping), real_render(tetrominoes.factors()[overlapping])
    )
    assert len(tetrominoes._rendered_rows) <= 3


def test_dataset_statistics_match_the_authors_sample():
    # SPEC a.3, measured on the authors' full dataset: pixel mean 0.0258, distortion floor 49.6 nats
    # (sd 21.1), mean-image distortion about 303 nats.  3,000 random images estimate them closely.
    rows = np.sort(np.random.default_rng(7).choice(tetrominoes.N_IMAGES, size=3000, replace=False))
    summary = stats.dataset_statistics(tetrominoes.images(rows))
    assert summary["pixel_mean"] == pytest.approx(0.0258, abs=0.0015)
    assert summary["distortion_floor"].mean() == pytest.approx(49.6, abs=2.0)
    assert summary["collapsed_distortion"].mean() == pytest.approx(303, rel=0.04)
    assert summary["frac_zero"] == pytest.approx(0.951, abs=0.005)


def test_distortion_floor_is_the_minimum_bce():
    x = np.random.default_rng(0).random((4, 3, 32, 32))
    floor = stats.distortion_floor(x)
    for p in (x, np.clip(x + 0.05, 0, 1), np.full_like(x, 0.5)):
        assert np.all(stats.bce(x, p).reshape(4, -1).sum(1) >= floor - 1e-6)
    np.testing.assert_allclose(stats.bce(x, x).reshape(4, -1).sum(1), floor, rtol=1e-5)
