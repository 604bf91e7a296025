"""CPU training steps with float32 matmuls computed in float32 against bfloat16 (Intel AMX).

A CPU with AMX (``amx_bf16`` in /proc/cpuinfo) can run float32 matmuls in bfloat16 with float32
accumulation when ``torch.backends.mkldnn.matmul.fp32_precision = "bf16"``: the CPU's counterpart of
TF32 on a GPU.  This times ``--steps`` training steps of 4 members (one stack, one thread, as a
``long`` seed shard trains) in fresh processes, alternating the two settings ``--repeats`` times,
and measures what bfloat16 does to the numbers: both settings train ``--fidelity-steps`` steps from
the same initialisation and minibatches, then each member's rate and distortion on the learning
curves' fixed test images are compared, beside the same members trained in float32 from another seed.

Usage: ``python benchmarks/bench_matmul_precision.py [--archs mlp1,mlp3]``; writes
``benchmarks/results/matmul-precision.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

PRECISIONS = ("ieee", "bf16")  # oneDNN's names: float32 throughout, bfloat16 products summed in float32


def measure(arch: str, precision: str, seed: int, steps: int, fidelity_steps: int) -> dict:
    """In this process, one thread: each member's test rate and distortion after ``fidelity_steps``
    steps from ``seed``'s initialisation, then seconds per step."""
    import torch

    torch.set_num_threads(1)
    torch.backends.mkldnn.matmul.fp32_precision = precision  # "ieee" (float32) or "bf16"

    from rdvae.config import RunConfig
    from rdvae.train import Trainer

    config = RunConfig(
        split="cv-0.1", arch=arch, betas=(0.01, 0.1, 1.0, 3.0), seeds=(seed,), iterations=10**6,
        train_limit=2048, curve_examples=256,
    )  # fmt: skip
    trainer = Trainer(config, "cpu", stack_size=4)
    with trainer.precision():
        for _ in range(fidelity_steps):
            trainer.step()
        trainer.evaluate_curves()
        start = time.perf_counter()
        for _ in range(steps):
            trainer.step()
        seconds = (time.perf_counter() - start) / steps
    test = [row for row in trainer.curves if row["partition"] == "test"]
    return {
        "arch": arch, "precision": precision, "seed": seed, "seconds_per_step": seconds,
        "test": {f"{row['beta']:g}": [row["rate"], row["distortion"]] for row in test},
    }  # fmt: skip


def largest_change(test: dict, reference: dict, column: int) -> float:
    """The largest change over the betas of a member's test rate (column 0) or distortion (1)."""
    return max(abs(test[beta][column] - reference[beta][column]) for beta in reference)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--archs", default="mlp1,mlp3")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--fidelity-steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--one", nargs=3, metavar=("ARCH", "PRECISION", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        arch, precision, seed = args.one
        print(json.dumps(measure(arch, precision, int(seed), args.steps, args.fidelity_steps)))
        return
    rows = []
    for arch in args.archs.split(","):
        # seed 1 in float32 once: how far two seeds are apart, the scale for bfloat16's change
        for precision, seed in [*[(p, 0) for _ in range(args.repeats) for p in PRECISIONS], ("ieee", 1)]:
            command = [sys.executable, __file__, "--steps", str(args.steps), "--fidelity-steps",
                       str(args.fidelity_steps), "--one", arch, precision, str(seed)]  # fmt: skip
            out = subprocess.run(command, capture_output=True, text=True, check=True)
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    summary = {}
    for arch in args.archs.split(","):
        mine = [r for r in rows if r["arch"] == arch and r["seed"] == 0]
        other_seed = next(r["test"] for r in rows if (r["arch"], r["seed"]) == (arch, 1))
        fp32, bf16 = (min(r["seconds_per_step"] for r in mine if r["precision"] == p) for p in PRECISIONS)
        test32, test16 = (next(r["test"] for r in mine if r["precision"] == p) for p in PRECISIONS)
        summary[arch] = {
            "fp32_s": fp32, "bf16_s": bf16, "ratio_bf16_vs_fp32": bf16 / fp32,
            "largest_test_distortion_change": largest_change(test16, test32, 1),
            "largest_test_rate_change": largest_change(test16, test32, 0),
            "largest_seed_to_seed_distortion_change": largest_change(other_seed, test32, 1),
        }  # fmt: skip
        print(arch, {k: round(v, 3) for k, v in summary[arch].items()}, flush=True)
    from rdvae.device import cpu_model

    result = {"machine": cpu_model(), "fidelity_steps": args.fidelity_steps, "rows": rows, **summary}
    out = Path(__file__).parent / "results" / "matmul-precision.json"
    out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
