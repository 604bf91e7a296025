"""One interface over every dataset: its images by index, its size and its splits.

Tetrominoes has the paper's four split families (:mod:`rdvae.data.splits`); the other datasets
(:mod:`rdvae.data.images`) have the constant-volume family only, as the paper uses for Figure 7
(SPEC c.4): ``cv-R`` keeps a random fraction R of the pooled data for training (a fixed permutation,
seed 0) and tests on the rest; ``default`` is ``cv-0.5``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

from rdvae.data import images, splits, tetrominoes

DATASETS = ("tetrominoes", *images.DATASETS)


def _check(dataset: str) -> None:
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")


def image_source(dataset: str) -> Callable[[np.ndarray], np.ndarray]:
    """``f(indices) -> float32 (n, C, 32, 32)`` for the dataset."""
    _check(dataset)
    if dataset == "tetrominoes":
        return tetrominoes.images
    pixels = images.load(dataset).images
    return lambda idx: pixels[np.asarray(idx, dtype=np.int64)]


def size(dataset: str) -> int:
    _check(dataset)
    return tetrominoes.N_IMAGES if dataset == "tetrominoes" else len(images.load(dataset).images)


def get_split(dataset: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    """``(train_idx, test_idx)`` of split ``name`` of ``dataset``."""
    _check(dataset)
    if dataset == "tetrominoes":
        return splits.get_split(name)
    key = str(name).strip().lower()
    match = re.fullmatch(r"cv-(.+)", key)
    if key != "default" and match is None:
        raise ValueError(
            f"split {name!r} is not available for {dataset}; its splits are 'cv-R' (random training "
            "fraction R in (0, 1), e.g. 'cv-0.1') and 'default' (= 'cv-0.5')"
        )
    ratio = 0.5 if key == "default" else splits._parse_ratio(name, match.group(1))
    n = size(dataset)
    rank = np.random.default_rng(0).permutation(n)
    return np.flatnonzero(rank < round(ratio * n)), np.flatnonzero(rank >= round(ratio * n))
