"""Dataset statistics used as sanity anchors for every distortion in the book (SPEC a.3, d.1).

With a Bernoulli likelihood on soft targets x_j in [0, 1], the per-image distortion
``D(x) = sum_j BCE(x_j, p_j)`` is minimised at ``p_j = x_j``, where it equals the summed binary entropy
``sum_j H_b(x_j)``: no decoder can go below this floor.  A decoder that ignores z and outputs the
per-pixel dataset mean (a fully collapsed posterior, R = 0) gives the ceiling.
"""

from __future__ import annotations

import numpy as np

_EPS = 1e-7


def binary_entropy(x: np.ndarray) -> np.ndarray:
    """H_b(x) = -x log x - (1 - x) log(1 - x) in nats, elementwise, with 0 log 0 = 0."""
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -(x * np.log(x) + (1 - x) * np.log1p(-x))
    return np.nan_to_num(h, nan=0.0)


def bce(x: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Bernoulli negative log-likelihood -x log p - (1 - x) log(1 - p), elementwise, in nats."""
    p = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1 - _EPS)
    return -(x * np.log(p) + (1 - x) * np.log1p(-p))


def distortion_floor(images: np.ndarray) -> np.ndarray:
    """Per-image lower bound on the Bernoulli distortion: sum_j H_b(x_j), shape (n,)."""
    flat = np.asarray(images).reshape(len(images), -1)
    return binary_entropy(flat).sum(axis=1)


def collapsed_distortion(images: np.ndarray, mean_image: np.ndarray | None = None) -> np.ndarray:
    """Per-image distortion of the decoder that always outputs the mean image (R = 0), shape (n,)."""
    flat = np.asarray(images, dtype=np.float64).reshape(len(images), -1)
    mean = flat.mean(axis=0) if mean_image is None else np.asarray(mean_image).reshape(-1)
    return bce(flat, mean[None, :]).sum(axis=1)


def border_touch_fraction(images: np.ndarray) -> float:
    """Fraction of images with any non-zero pixel on the outermost row or column."""
    imgs = np.asarray(images)
    border = np.concatenate(
        [imgs[..., 0, :], imgs[..., -1, :], imgs[..., :, 0], imgs[..., :, -1]], axis=-1
    ).reshape(len(imgs), -1)
    return float(np.mean(border.max(axis=1) > 0))


def dataset_statistics(images: np.ndarray, chunk: int = 16384) -> dict:
    """Distortion floor and ceiling per image, pixel summary and border contact, in chunks.

    ``images`` may be a memory-mapped (n, 3, 32, 32) array; at most ``chunk`` images are in memory
    as float64 at once.  Two passes: the mean image first, then the per-image quantities.
    """
    n = len(images)
    total = np.zeros(np.prod(images.shape[1:]))
    for a in range(0, n, chunk):
        total += np.asarray(images[a : a + chunk], dtype=np.float64).reshape(-1, total.size).sum(axis=0)
    mean_image = total / n
    floor, collapsed = np.empty(n), np.empty(n)
    counts = np.zeros(3)  # values == 0, == 1, in total
    border = 0.0
    for a in range(0, n, chunk):
        block = np.asarray(images[a : a + chunk])
        floor[a : a + len(block)] = distortion_floor(block)
        collapsed[a : a + len(block)] = collapsed_distortion(block, mean_image)
        counts += [np.count_nonzero(block == 0), np.count_nonzero(block == 1), block.size]
        border += border_touch_fraction(block) * len(block)
    return {
        "n_images": n,
        "pixel_mean": float(mean_image.mean()),
        "frac_zero": counts[0] / counts[2],
        "frac_one": counts[1] / counts[2],
        "frac_between": 1 - (counts[0] + counts[1]) / counts[2],
        "border_touch_fraction": border / n,
        "distortion_floor": floor,
        "collapsed_distortion": collapsed,
        "mean_image": mean_image.reshape(images.shape[1:]),
    }
