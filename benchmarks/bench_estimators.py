"""The minibatch I(x;z) / marginal-KL estimator of the final evaluation: one call per member (as the
evaluation does) against one call for the whole stack of members, in the same process.

Usage: ``python benchmarks/bench_estimators.py [--device cuda] [--members 4 12 60]``; writes
``benchmarks/results/estimators-<device>.json``.  Batch 512 and 10 latent dimensions, as in the
evaluation (SPEC d.4); each layout is timed over ``--repeats`` calls after one warm-up call, the two
layouts interleaved in 5 rounds (the best round of each counts, against a machine's load), and their
results are checked to agree.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from rdvae import estimators


def _seconds(fn, device: torch.device, repeats: int) -> float:
    fn()  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats


def measure(members: int, device: torch.device, repeats: int, batch: int = 512, dims: int = 10) -> dict:
    g = torch.Generator().manual_seed(members)
    mu = torch.randn(members, batch, dims, generator=g).to(device)  # (M, B, d)
    logvar = (torch.rand(members, batch, dims, generator=g) * 4 - 4).to(device)
    z = estimators.reparameterise(mu, logvar, torch.randn(members, batch, dims, generator=g).to(device))
    n_data = 16_384

    def looped():
        return torch.stack([torch.stack(estimators.mi_and_marginal_kl(z[m], mu[m], logvar[m], n_data))
                            for m in range(members)])  # fmt: skip

    def stacked():
        return torch.stack(estimators.mi_and_marginal_kl(z, mu, logvar, n_data), dim=1)

    torch.testing.assert_close(stacked(), looped(), rtol=1e-6, atol=1e-5)
    rounds = [(_seconds(looped, device, repeats), _seconds(stacked, device, repeats)) for _ in range(5)]
    loop_s, stack_s = (min(times) for times in zip(*rounds, strict=True))  # best of 5 rounds each
    return {"members": members, "looped_ms": 1e3 * loop_s, "stacked_ms": 1e3 * stack_s,
            "ratio": loop_s / stack_s}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--members", type=int, nargs="+", default=[4, 12, 60])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    device = torch.device(args.device)
    rows = [measure(m, device, args.repeats) for m in args.members]
    for row in rows:
        print(f"{row['members']:>3} members: looped {row['looped_ms']:8.2f} ms, "
              f"stacked {row['stacked_ms']:8.2f} ms, {row['ratio']:.2f}x")  # fmt: skip
    record = {"device": str(device), "threads": torch.get_num_threads(), "torch": torch.__version__,
              "rows": rows}  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"estimators-{device.type}.json").write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
