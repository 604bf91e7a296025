"""Data-layer benchmarks: dataset rendering and nearest-neighbour search.

Each speed is reported with a baseline measured in the same process, so the ratios mean something on
a noisy shared machine:

- render: images/s of our row-band renderer, serial and with a process pool, against a transcription
  of the authors' full-canvas pipeline (serial); plus the wall time of the full 163,840-image render.
- nearest neighbours for CV(16k/147k): the chunked matmul search over the whole test set, against a
  bare float32 GEMM of the same shape (the search's arithmetic floor).

Usage: ``python benchmarks/bench_data.py [--full-render] [--nn-test N]``; writes
``benchmarks/results/data.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from rdvae.data import neighbours, splits, tetrominoes


def authors_pipeline(rotation, hue, scale, x, y):
    """The generator's per-image pipeline on the full 512 x 512 canvas (the baseline)."""
    template = np.zeros((300, 200), dtype=np.float32)
    template[:, 100:] = 1
    template[200:, :] = 1
    canvas = cv2.warpAffine(
        template, tetrominoes._affine(rotation, scale, x, y), (512, 512), flags=cv2.INTER_AREA
    )
    v = cv2.resize(canvas, (32, 32), interpolation=cv2.INTER_AREA)
    hsv = np.dstack([np.full_like(v, hue * 360), np.ones_like(v), v])
    return np.clip(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB), 0, 1).transpose(2, 0, 1)


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def bench_render(n: int, full: bool) -> dict:
    cv2.setNumThreads(1)
    f = tetrominoes.factors()[np.random.default_rng(0).choice(tetrominoes.N_IMAGES, n, replace=False)]
    _, t_authors = timed(lambda: [authors_pipeline(*row) for row in f])
    serial_out = np.empty((n, *tetrominoes.IMAGE_SHAPE), dtype=np.float32)
    _, t_serial = timed(tetrominoes._render_rows, f, serial_out)  # in this process, no pool
    _, t_pool = timed(tetrominoes.render, f, workers=os.cpu_count())
    result = {
        "images": n,
        "authors_serial_img_per_s": n / t_authors,
        "ours_serial_img_per_s": n / t_serial,
        "ours_pool_img_per_s": n / t_pool,
        "speedup_serial_vs_authors": t_authors / t_serial,
        "speedup_pool_vs_authors": t_authors / t_pool,
        "workers": os.cpu_count(),
    }
    if full:
        previous = os.environ.get("RDVAE_CACHE")
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["RDVAE_CACHE"] = tmp
            tetrominoes._loaded.clear()
            _, seconds = timed(tetrominoes.load_images, progress=False)
            result["full_dataset_render_and_checksum_s"] = seconds
            tetrominoes._loaded.clear()
            _, seconds = timed(tetrominoes.load_images, progress=False)
            result["full_dataset_reload_with_checksum_s"] = seconds
            tetrominoes._loaded.clear()
        if previous is None:
            os.environ.pop("RDVAE_CACHE")
        else:
            os.environ["RDVAE_CACHE"] = previous
    return result


def bench_neighbours(n_test: int | None) -> dict:
    train_idx, test_idx = splits.get_split("cv-0.1")
    images = tetrominoes.load_images(progress=True)
    if n_test is not None:
        test_idx = np.sort(np.random.default_rng(0).choice(test_idx, n_test, replace=False))
    test_images = np.asarray(images[test_idx])  # (n_test, 3, 32, 32)
    train_images = np.asarray(images[train_idx])  # (16384, 3, 32, 32)
    _, t_search = timed(neighbours.nearest_neighbours, test_images, train_images)
    a = torch.from_numpy(test_images.reshape(len(test_images), -1))
    b = torch.from_numpy(train_images.reshape(len(train_images), -1))
    _, t_gemm = timed(lambda: [a[i : i + 1024] @ b.T for i in range(0, len(a), 1024)])
    flops = 2 * len(a) * len(b) * a.shape[1]
    return {
        "split": "cv-0.1",
        "test_images": len(test_images),
        "train_images": len(train_images),
        "search_s": t_search,
        "bare_gemm_s": t_gemm,
        "search_over_gemm": t_search / t_gemm,
        "search_gflops": flops / t_search / 1e9,
        "peak_extra_memory_mb_bound": (1024 + 16384) * 3072 * 4 / 2**20 + 1024 * 16384 * 4 / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--render-images", type=int, default=8192)
    parser.add_argument("--full-render", action="store_true", help="also time the full 163,840-image render")
    parser.add_argument("--nn-test", type=int, default=None, help="test images (default: all 147,456)")
    parser.add_argument("--skip-nn", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count())
    results = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "opencv": cv2.__version__,
        },
        "render": bench_render(args.render_images, args.full_render),
    }
    print(json.dumps(results["render"], indent=2))
    if not args.skip_nn:
        results["nearest_neighbours"] = bench_neighbours(args.nn_test)
        print(json.dumps(results["nearest_neighbours"], indent=2))
    out = Path(__file__).parent / "results" / "data.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"written {out}")


if __name__ == "__main__":
    main()
