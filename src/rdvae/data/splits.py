"""Train/test splits of paper section 4.2, with the generator's exact sizes (SPEC b.1).

Every split indexes the same 163,840 factor tuples (:func:`rdvae.data.tetrominoes.factors`) and is
named by a short string, usable as a papermill parameter:

==================  ============================================================  =================
name                rule                                                          N_train / N_test
==================  ============================================================  =================
``default``         random 50/50: permutation value < 81,920 (= ``cv-0.5``)       81,920 / 81,920
``checkerboard``    halve every factor interval; train iff the five half-indices  82,021 / 81,819
                    sum to an even number (out-of-domain split)
``cv-R``            constant volume: random training subset of ratio R in (0, 1)  e.g. ``cv-0.1``:
                    (the generator's round-off adds one example for some R)       16,384 / 147,456
``cd-R``            constant density: the Default split restricted to the         e.g. ``cd-0.2``:
                    centred box of volume fraction R (side R**(1/5) per factor)   16,405 / 16,286
==================  ============================================================  =================

CV training sets are nested (one permutation serves all ratios): CV(0.05) ⊂ CV(0.1) ⊂ ... ⊂ Default.
"""

from __future__ import annotations

import functools
import re

import numpy as np

from rdvae.data import tetrominoes

CV_PAPER_RATIOS = (0.05, 0.10, 0.15, 0.20, 0.25, 0.30, 0.35, 0.40)
CD_PAPER_RATIOS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
_SPLIT_HELP = (
    "valid split names: 'default', 'checkerboard', 'cv-R' (constant volume, training ratio R in (0, 1), "
    "e.g. 'cv-0.1' = 16k/147k) and 'cd-R' (constant density, kept volume fraction R in (0, 1), "
    "e.g. 'cd-0.2')"
)


@functools.lru_cache(maxsize=1)
def _permutation() -> np.ndarray:
    """The generator's permutation of 0..N-1, drawn right after the factor sample."""
    perm = tetrominoes.generator_stream().permutation(tetrominoes.N_IMAGES)
    perm.setflags(write=False)
    return perm


def _mask_indices(train_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.flatnonzero(train_mask), np.flatnonzero(~train_mask)


def constant_volume(ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """CV(ratio): the generator's ``mode='id'`` split with ``train_ratio=ratio``.

    ``num_train = int(r N)``, ``num_test = int((1 - r) N)``; training examples are those whose
    permutation value is below ``N (1 - num_test / (num_train + num_test))``.
    """
    n = tetrominoes.N_IMAGES
    num_train, num_test = int(ratio * n), int((1 - ratio) * n)
    cut = n * (1 - num_test / (num_train + num_test))
    return _mask_indices(_permutation() < cut)


def checkerboard() -> tuple[np.ndarray, np.ndarray]:
    """The 5-D checkerboard: split each factor interval at its midpoint, train iff the sum is even."""
    half_index = []
    for column, (lo, hi, _) in enumerate(tetrominoes.FACTOR_RANGES.values()):
        half_width = (hi + 1e-9 - lo) / 2  # the generator's 1e-9 keeps hi itself in the upper half
        half_index.append(((tetrominoes.factors()[:, column] - lo) / half_width).astype(np.int64))
    return _mask_indices(np.sum(half_index, axis=0) % 2 == 0)


def crop_mask(ratio: float) -> np.ndarray:
    """True for tuples inside the centred box holding volume fraction ``ratio`` of the factor space."""
    keep = np.ones(tetrominoes.N_IMAGES, dtype=bool)
    side = ratio ** (1 / len(tetrominoes.FACTOR_NAMES))
    for column, (lo, hi, _) in enumerate(tetrominoes.FACTOR_RANGES.values()):
        margin = (hi - lo) * (1 - side) / 2
        values = tetrominoes.factors()[:, column]
        keep &= (values >= lo + margin) & (values < hi - margin)
    return keep


def constant_density(ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """CD(ratio): the Default split with train and test both restricted to :func:`crop_mask`."""
    train, test = constant_volume(0.5)
    keep = crop_mask(ratio)
    return train[keep[train]], test[keep[test]]


def _parse_ratio(name: str, text: str) -> float:
    try:
        ratio = float(text)
    except ValueError:
        raise ValueError(f"split {name!r}: {text!r} is not a number; {_SPLIT_HELP}") from None
    if not 0 < ratio < 1:
        raise ValueError(f"split {name!r}: ratio {ratio} is outside (0, 1); {_SPLIT_HELP}")
    return ratio


def get_split(name: str) -> tuple[np.ndarray, np.ndarray]:
    """``(train_idx, test_idx)``: sorted int64 arrays indexing :func:`rdvae.data.tetrominoes.factors`.

    Computed once per split and process (0.5 ms for CV, 3 ms for CD, 7 ms for the checkerboard, and
    every :class:`RunConfig` built asks for its split) and shared by every caller, so the arrays are
    read-only: index them, don't write."""
    key = str(name).strip().lower()
    if key in ("default", "checkerboard"):
        return _split(key, None)
    match = re.fullmatch(r"(cv|cd)-(.+)", key)
    if match is None:
        raise ValueError(f"unknown split {name!r}; {_SPLIT_HELP}")
    return _split(match.group(1), _parse_ratio(name, match.group(2)))


@functools.lru_cache(maxsize=16)
def _split(kind: str, ratio: float | None) -> tuple[np.ndarray, np.ndarray]:
    """One split's indices, read-only: ``kind`` "default", "checkerboard", "cv" or "cd"."""
    if kind == "default":
        indices = constant_volume(0.5)
    elif kind == "checkerboard":
        indices = checkerboard()
    else:
        indices = (constant_volume if kind == "cv" else constant_density)(ratio)
    for array in indices:
        array.setflags(write=False)
    return indices


def describe(name: str) -> str:
    """Human-readable label with the sizes in the paper's style, e.g. ``'CV(16k/147k)'``."""
    train, test = get_split(name)
    kind = {"default": "Default", "checkerboard": "Checkerboard"}.get(name, name[:2].upper())
    return f"{kind}({round(len(train) / 1000)}k/{round(len(test) / 1000)}k)"


def schematic_2d(n_rows: int = 20, n_cols: int = 30, ratio: float = 0.25, seed: int = 0) -> dict:
    """Figure 2's two-factor illustration: 600 stratified points and the four rules applied in 2-D.

    Returns ``{"points": (n, 2) array, "default" | "checkerboard" | "cd" | "cv": labels}`` with label
    1 = train, 0 = test, -1 = dropped (outside the CD crop).  CD keeps a centred square of area
    ``ratio`` of the Default split; CV keeps a random training fraction ``ratio``.
    """
    rng = np.random.default_rng(seed)
    cells = np.stack(np.meshgrid(np.arange(n_cols), np.arange(n_rows)), axis=-1).reshape(-1, 2)
    points = (cells + rng.random(cells.shape)) / np.array([n_cols, n_rows])  # one point per cell
    rank = rng.permutation(len(points))
    default = (rank < len(points) // 2).astype(int)
    margin = (1 - np.sqrt(ratio)) / 2
    inside = np.all((points >= margin) & (points < 1 - margin), axis=1)
    return {
        "points": points,
        "default": default,
        "checkerboard": (np.floor(points * 2).sum(axis=1) % 2 == 0).astype(int),
        "cd": np.where(inside, default, -1),
        "cv": (rank < ratio * len(points)).astype(int),
    }
