"""The Tetrominoes dataset of paper section 4.1, replicated exactly from the authors' generator.

Five continuous factors (rotation in degrees, hue, scale, x, y) are drawn by stratified uniform
sampling with exactly one sample per cell of a 16 x 8 x 5 x 16 x 16 grid: 163,840 tuples
(SPEC a.1).  The random protocol is the generator's own, so our images and splits are the authors':

1. legacy NumPy MT19937 seeded with 1 (``np.random.RandomState(1)``, the same stream as
   ``np.random.seed(1)``);
2. cell lower edges ``linspace(lo, hi, bins, endpoint=False)`` per factor, combined with NumPy's
   default ``"xy"`` meshgrid in the order (rotation, hue, scale, x, y) and flattened in C order, so the
   grid has shape (8 hue, 16 rotation, 5 scale, 16 x, 16 y);
3. one ``rand(163840, 5)`` draw, ``value = edge + U * bin_width``.

The split permutation is drawn from the same stream right after (see :mod:`rdvae.data.splits`).

Rendering (SPEC a.2): a 300 x 200 "J" template is warped with bilinear interpolation onto a 512 x 512
canvas (16x supersampling) by ``T2 . (s Rot) . T1``, area-downsampled to 32 x 32 (the coverage
fraction ``v``), and coloured in HSV with H = 360 * hue, S = 1, V = v.  This is OpenCV's pipeline, as
the authors ran it; the generator asked ``warpAffine`` for INTER_AREA, which OpenCV treats as
INTER_LINEAR, so we ask for INTER_LINEAR (identical output; a test checks it).

Note the paper says rotations lie in [0, 360]; the generator draws them from [0, 337.5).  We follow
the generator.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np
from tqdm.auto import tqdm

from rdvae import cache, paths

FACTOR_NAMES = ("rotation", "hue", "scale", "x", "y")
#: Half-open sampling interval [lo, hi) and number of strata per factor (SPEC a.1).
FACTOR_RANGES = {
    "rotation": (0.0, 360.0 * (1 - 1 / 16), 16),
    "hue": (0.0, 1 - 1 / 8, 8),
    "scale": (2.0, 5.0, 5),
    "x": (8.0, 23.0, 16),
    "y": (8.0, 23.0, 16),
}
N_IMAGES = 16 * 8 * 5 * 16 * 16  # 163,840
IMAGE_SHAPE = (3, 32, 32)
SEED = 1
SUPERSAMPLE = 16
_CANVAS = 32 * SUPERSAMPLE

_TEMPLATE_J = np.zeros((300, 200), dtype=np.float32)
_TEMPLATE_J[:, 100:] = 1  # the vertical bar, three blocks tall, on the right
_TEMPLATE_J[200:, :] = 1  # the foot, extending to the lower left


def generator_stream() -> np.random.RandomState:
    """The generator's random stream, positioned just after the factor draw.

    The next draw from it is the split permutation (:mod:`rdvae.data.splits`).
    """
    rng = np.random.RandomState(SEED)
    rng.random_sample((N_IMAGES, len(FACTOR_NAMES)))
    return rng


@functools.lru_cache(maxsize=1)
def _factors() -> np.ndarray:
    rng = np.random.RandomState(SEED)
    edges = [np.linspace(lo, hi, bins, endpoint=False) for lo, hi, bins in FACTOR_RANGES.values()]
    widths = np.array([(hi - lo) / bins for lo, hi, bins in FACTOR_RANGES.values()])
    grid = np.meshgrid(*edges)  # "xy" indexing: each array has shape (8, 16, 5, 16, 16)
    lower = np.stack([g.reshape(-1) for g in grid], axis=-1)  # (163840, 5), row k = cell k
    values = lower + rng.random_sample(lower.shape) * widths
    values.setflags(write=False)
    return values


def factors() -> np.ndarray:
    """The 163,840 factor tuples, float64 array (163840, 5): rotation, hue, scale, x, y, in cell order."""
    return _factors()


def cell_index(values: np.ndarray) -> np.ndarray:
    """The stratification cell of each factor tuple, in the generator's cell order, int64 (n,).

    ``k = (((i_hue * 16 + i_rotation) * 5 + i_scale) * 16 + i_x) * 16 + i_y`` where ``i_f`` is the
    stratum of factor f; for :func:`factors` row k lies in cell k.
    """
    strata = {}
    for column, (name, (lo, hi, bins)) in enumerate(FACTOR_RANGES.items()):
        strata[name] = np.floor((values[:, column] - lo) / ((hi - lo) / bins)).astype(np.int64)
    k = strata["hue"] * 16 + strata["rotation"]
    k = k * 5 + strata["scale"]
    return (k * 16 + strata["x"]) * 16 + strata["y"]


def _affine(rotation: float, scale: float, x: float, y: float) -> np.ndarray:
    """2 x 3 map from template pixels to canvas pixels: T2 . (s Rot) . T1 (SPEC a.2)."""
    s = scale * SUPERSAMPLE / 100  # one 100-px template block becomes `scale` output pixels
    angle = np.deg2rad(rotation)
    linear = s * np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
    template_centre = np.array([_TEMPLATE_J.shape[1] / 2, _TEMPLATE_J.shape[0] / 2])  # (col, row)
    target = SUPERSAMPLE * (np.array([x, y]) + 0.5)
    return np.hstack([linear, (target - linear @ template_centre)[:, None]])


# Template corners with a one-pixel margin for the bilinear footprint, as (col, row).
_TEMPLATE_BOX = np.array([[-1.0, -1.0], [200.0, -1.0], [200.0, 300.0], [-1.0, 300.0]])


def coverage(rotation: float, scale: float, x: float, y: float) -> np.ndarray:
    """Fraction of each 32 x 32 output pixel covered by the J, float32 (32, 32) in [0, 1].

    Identical to warping onto the whole 512 x 512 canvas and area-downsampling it, but only the band
    of 16-row blocks the shape can touch is warped (about half the work).  Only rows are cropped:
    OpenCV's fixed-point bilinear warp rounds per-column offsets that would change under a column
    shift, whereas a row shift only moves the per-row offset, so the output stays bit-identical (a
    test checks it against the full-canvas pipeline).
    """
    affine = _affine(rotation, scale, x, y)
    rows = (_TEMPLATE_BOX @ affine[:, :2].T + affine[:, 2])[:, 1]  # canvas rows of the corners
    first = int(np.clip(np.floor((rows.min() - 1) / SUPERSAMPLE), 0, 32))
    last = int(np.clip(np.ceil((rows.max() + 2) / SUPERSAMPLE), 0, 32))
    out = np.zeros((32, 32), dtype=np.float32)
    if last > first:
        band = affine.copy()
        band[1, 2] -= SUPERSAMPLE * first  # canvas row SUPERSAMPLE * first becomes row 0
        canvas = cv2.warpAffine(
            _TEMPLATE_J, band, (_CANVAS, SUPERSAMPLE * (last - first)), flags=cv2.INTER_LINEAR
        )
        out[first:last] = cv2.resize(canvas, (32, last - first), interpolation=cv2.INTER_AREA)
    return out


def colourise(coverages: np.ndarray, hues: np.ndarray) -> np.ndarray:
    """HSV (360 * hue, 1, coverage) -> RGB, clipped to [0, 1]: (n, 32, 32) -> float32 (n, 3, 32, 32)."""
    n = len(coverages)
    hsv = np.empty((n, 32, 32, 3), dtype=np.float32)
    hsv[..., 0] = (np.asarray(hues, dtype=np.float32) * 360)[:, None, None]
    hsv[..., 1] = 1
    hsv[..., 2] = coverages
    rgb = cv2.cvtColor(hsv.reshape(n * 32, 32, 3), cv2.COLOR_HSV2RGB)  # one call for the whole batch
    return np.clip(rgb, 0, 1).reshape(n, 32, 32, 3).transpose(0, 3, 1, 2)  # (n, 32, 32, 3) -> (n, 3, 32, 32)


def _render_rows(factor_rows: np.ndarray, out: np.ndarray) -> None:
    if len(factor_rows) == 0:
        return
    coverages = np.stack([coverage(r, s, x, y) for r, _, s, x, y in factor_rows])  # (n, 32, 32)
    out[:] = colourise(coverages, factor_rows[:, 1])


def _render_into_file(path: str, start: int, stop: int, factor_rows: np.ndarray) -> int:
    """Worker: render ``factor_rows`` into rows [start, stop) of the ``.npy`` file at ``path``."""
    cv2.setNumThreads(1)
    out = np.load(path, mmap_mode="r+")
    _render_rows(factor_rows, out[start:stop])
    out.flush()
    return stop - start


def render(factors: np.ndarray, workers: int | None = None, progress: bool = False) -> np.ndarray:
    """Render factor tuples (N, 5) into a float32 array (N, 3, 32, 32) in [0, 1]."""
    factors = np.asarray(factors, dtype=np.float64).reshape(-1, len(FACTOR_NAMES))
    out = np.empty((len(factors), *IMAGE_SHAPE), dtype=np.float32)
    if workers is None and len(factors) < 4096:
        _render_rows(factors, out)
        return out
    return np.array(_render_to_file_parallel(factors, None, workers, progress))


def _render_to_file_parallel(
    factors: np.ndarray, path: Path | None, workers: int | None, progress: bool, chunk: int = 2048
) -> np.ndarray:
    """Render into a ``.npy`` at ``path`` (a temp file if None) with a process pool; return it mapped."""
    workers = workers or os.cpu_count() or 1
    if path is None:
        path = paths.cache_dir() / f".render.{os.getpid()}.tmp.npy"
        cleanup = True
    else:
        cleanup = False
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(len(factors), *IMAGE_SHAPE))
    del out
    spans = [(a, min(a + chunk, len(factors))) for a in range(0, len(factors), chunk)]
    context = multiprocessing.get_context("spawn")  # safe inside Jupyter kernels that loaded torch
    with (
        ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool,
        tqdm(total=len(factors), desc="rendering Tetrominoes", unit="img", disable=not progress) as bar,
    ):
        jobs = [pool.submit(_render_into_file, str(path), a, b, factors[a:b]) for a, b in spans]
        for job in jobs:
            bar.update(job.result())
    result = np.load(path, mmap_mode="r")
    if cleanup:
        result = np.array(result)
        path.unlink()
    return result


def _provenance() -> dict:
    return {"generator": "rdvae.data.tetrominoes", "seed": SEED, "opencv": cv2.__version__}


def load_images(progress: bool = True, workers: int | None = None) -> np.ndarray:
    """All 163,840 images (163840, 3, 32, 32) float32, memory-mapped from the cache folder.

    Rendered on first use (both cores, about 30 s here, 2.0 GB), then checked against its SHA-256 on
    first load in a process; a truncated or corrupt file is reported and re-rendered.
    """
    key = (str(paths.cache_dir()), _full_cache_name())
    if key not in _loaded:

        def build(tmp_path: Path) -> None:
            _render_to_file_parallel(factors(), tmp_path, workers, progress)

        _loaded[key] = cache.load_or_build(paths.cache_dir(), _full_cache_name(), build, _provenance())
    return _loaded[key]


_loaded: dict[tuple[str, str], np.ndarray] = {}


def _full_cache_name() -> str:
    return f"tetrominoes-full-opencv{cv2.__version__}"


def full_cache_ready() -> bool:
    """True if the full rendered dataset is in the cache folder (not checksummed here)."""
    folder = paths.cache_dir()
    return (folder / f"{_full_cache_name()}.json").exists()


def images(indices: Sequence[int] | np.ndarray) -> np.ndarray:
    """Images for the given rows of :func:`factors`, float32 (len(indices), 3, 32, 32).

    Reads the full cache when it has been rendered; otherwise renders just these rows (the cheap path
    the ``smoke`` profile relies on), keeping up to :data:`RENDERED_ROWS_KEPT` of them in memory:
    one smoke run asks for each row about twice (curves, evaluation, neighbours), and a chapter's
    runs of the same split ask for the same rows.
    """
    indices = np.asarray(indices, dtype=np.int64)
    if full_cache_ready():
        return np.asarray(load_images(progress=False)[indices])
    rows = indices.tolist()
    distinct = list(dict.fromkeys(rows))
    if not rows or len(distinct) > RENDERED_ROWS_KEPT:  # nothing to keep, or too much: render as asked
        return render(factors()[indices])
    missing = [row for row in distinct if row not in _rendered_rows]
    if len(_rendered_rows) + len(missing) > RENDERED_ROWS_KEPT:  # make room, keeping this request's rows
        kept = {row: _rendered_rows[row] for row in distinct if row in _rendered_rows}
        _rendered_rows.clear()
        _rendered_rows.update(kept)
    if missing:
        _rendered_rows.update(zip(missing, render(factors()[missing]), strict=True))
    return np.stack([_rendered_rows[row] for row in rows])


#: Rendered rows kept per process when the full cache is absent (16,384 images, 200 MB).
RENDERED_ROWS_KEPT = 16_384
_rendered_rows: dict[int, np.ndarray] = {}
