"""Nearest-neighbour pixel distances from test to training images (SPEC b.2, d.3).

``d(x) = min_{x' in train} ||x - x'||_2`` in the 3072-d pixel space, computed in matmul form
``||x||^2 + ||x'||^2 - 2 x.x'`` over blocks, so memory stays bounded: at most
``(test_chunk + train_block) * 3072 * 4`` bytes of images plus ``test_chunk * train_block * 4`` bytes
of distances are live at once (with the defaults 1,024 and 16,384: 4 MB + 201 MB + 67 MB ~ 272 MB).
The float32 matmul form only *ranks* the candidates: it loses about 1e-5 relative accuracy, and how
much depends on the BLAS kernel (a test image present in the training set came out at 0.002 instead
of 0 on one x86-64 machine).  The winner's distance is then recomputed directly, as
``sqrt(sum((x - x')^2))`` in float64, so returned distances are exact up to float64 rounding on any
machine (identical images give exactly 0) and only a near-tie can pick a different neighbour.

The paper's "hard" test example (section 4.4, above each RD panel) is the test image whose
nearest-neighbour distance is closest to the 90th percentile of those distances.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from rdvae.device import cuda_fp32_precision

ImageSource = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class NeighbourResult:
    """Distances from each evaluated test example to its nearest training example."""

    test_idx: np.ndarray  # (n,) indices into factors() of the evaluated test examples
    distance: np.ndarray  # (n,) float64 l2 pixel distance to the nearest training image
    neighbour_idx: np.ndarray  # (n,) indices into factors() of that training image

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.distance, q))

    def hard_example(self, q: float = 90.0) -> tuple[int, int, float]:
        """``(test_index, nearest_train_index, distance)`` of the example nearest the q-th percentile."""
        k = int(np.argmin(np.abs(self.distance - self.percentile(q))))
        return int(self.test_idx[k]), int(self.neighbour_idx[k]), float(self.distance[k])


def nearest_neighbours(
    test_images: np.ndarray | torch.Tensor,
    train_images: np.ndarray | torch.Tensor,
    test_chunk: int = 1024,
    train_block: int = 16384,
    device: torch.device | str = "cpu",
) -> tuple[np.ndarray, np.ndarray]:
    """For each test image, ``(distance, argmin)`` over the training images (pure function).

    Both inputs are (n, ...) arrays flattened to (n, d); returns float64 (n_test,) distances, computed
    directly for the winning pair on the CPU, and int64 (n_test,) positions into ``train_images``.
    The ranking matmuls run on ``device``, in full float32 even where TF32 is switched on (a TF32
    product is off by ~1e-3 relative, enough to rank neighbours wrongly).
    """
    device = torch.device(device)
    test_host = torch.as_tensor(np.asarray(test_images)).reshape(len(test_images), -1).float()
    test = test_host.to(device)
    best_sq = torch.full((len(test),), float("inf"), device=device)
    best_pos = torch.zeros(len(test), dtype=torch.int64, device=device)
    with cuda_fp32_precision(device, tf32=False):
        for b0 in range(0, len(train_images), train_block):
            train = torch.as_tensor(np.asarray(train_images[b0 : b0 + train_block]))
            train = train.reshape(len(train), -1).float().to(device)  # (block, d)
            train_sq = (train * train).sum(1)  # (block,)
            for t0 in range(0, len(test), test_chunk):
                chunk = test[t0 : t0 + test_chunk]  # (chunk, d)
                sq = (chunk * chunk).sum(1, keepdim=True) + train_sq - 2 * chunk @ train.T  # (chunk, block)
                value, pos = sq.min(1)
                kept = best_sq[t0 : t0 + test_chunk]
                better = value < kept
                best_sq[t0 : t0 + test_chunk] = torch.where(better, value, kept)
                best_pos[t0 : t0 + test_chunk] = torch.where(better, pos + b0, best_pos[t0 : t0 + test_chunk])
    best_pos = best_pos.cpu()
    distance = torch.empty(len(test), dtype=torch.float64)
    for t0 in range(0, len(test), test_chunk):
        rows = best_pos[t0 : t0 + test_chunk].numpy()
        winners = torch.as_tensor(np.asarray(train_images[rows])).reshape(len(rows), -1).double()
        distance[t0 : t0 + test_chunk] = (
            (test_host[t0 : t0 + test_chunk].double() - winners).square().sum(1).sqrt()
        )
    return distance.numpy(), best_pos.numpy()


def split_neighbours(
    train_idx: np.ndarray,
    test_idx: np.ndarray,
    images: ImageSource,
    n_test: int | None = None,
    n_train: int | None = None,
    rng: np.random.Generator | None = None,
    train_block: int = 16384,
    progress: bool = False,
    device: torch.device | str = "cpu",
) -> NeighbourResult:
    """Nearest training neighbours for ``n_test`` random test examples of a split (all if None).

    ``n_train`` searches only a random subset of the training set (the ``smoke`` profile; distances
    then come out larger than the split's true ones).  ``images(indices)`` returns the images for rows
    of ``factors()``; training images are read one block at a time, never all at once.  ``device``:
    where the distance matmuls run (a training run's GPU makes a whole-test-set search take seconds).
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    if n_test is not None and n_test < len(test_idx):
        test_idx = np.sort(rng.choice(test_idx, size=n_test, replace=False))
    if n_train is not None and n_train < len(train_idx):
        train_idx = np.sort(rng.choice(train_idx, size=n_train, replace=False))
    test_images = images(test_idx)
    best = np.full(len(test_idx), np.inf)
    best_idx = np.zeros(len(test_idx), dtype=np.int64)
    blocks = range(0, len(train_idx), train_block)
    for b0 in tqdm(blocks, desc="nearest neighbours", unit="block", disable=not progress):
        block_idx = train_idx[b0 : b0 + train_block]
        dist, pos = nearest_neighbours(test_images, images(block_idx), train_block=train_block, device=device)
        better = dist < best
        best[better] = dist[better]
        best_idx[better] = block_idx[pos[better]]
    return NeighbourResult(test_idx=test_idx, distance=best, neighbour_idx=best_idx)


def for_splits(
    names: list[str] | tuple[str, ...],
    n_test: int | None,
    n_train: int | None = None,
    seed: int = 0,
    progress: bool = False,
) -> dict[str, NeighbourResult]:
    """:func:`split_neighbours` for each named split, with one seeded generator per split."""
    from rdvae.data import splits, tetrominoes

    results = {}
    for offset, name in enumerate(tqdm(names, desc="splits", disable=not progress)):
        train_idx, test_idx = splits.get_split(name)
        rng = np.random.default_rng([seed, offset])
        results[name] = split_neighbours(train_idx, test_idx, tetrominoes.images, n_test, n_train, rng)
    return results
