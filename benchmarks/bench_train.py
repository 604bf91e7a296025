"""Training throughput: model-steps/s of M members run looped (stacks of one) against batched
stacks, for each architecture, with peak memory.

Each (architecture, layout) runs in a fresh subprocess so its peak memory is its own (CPU: the
process's peak resident set, VmHWM; GPU: torch.cuda.max_memory_allocated).  Ratios are against the
looped layout measured on the same machine in the same benchmark run.

Usage: ``python benchmarks/bench_train.py [--device cpu|cuda] [--members 12] [--archs mlp1,cnn3]``;
writes ``benchmarks/results/train-<device>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

STEPS = {"mlp1": 20, "mlp3": 20, "cnn1": 10, "cnn3": 6}  # timed iterations per layout on a CPU


def measure(arch: str, members: int, stack: int, device: str, steps: int) -> dict:
    """One layout, in this process: warm up, then time ``steps`` iterations of every member."""
    import torch

    from rdvae.config import RunConfig
    from rdvae.train import Trainer

    config = RunConfig(
        split="cv-0.1", arch=arch, betas=tuple(0.1 * (i + 1) for i in range(members)), seeds=(0,),
        iterations=10**6, train_limit=2048, curve_examples=8,
    )  # fmt: skip
    trainer = Trainer(config, device, stack_size=stack)
    for _ in range(3):
        trainer.step()
    sync = torch.cuda.synchronize if trainer.device.type == "cuda" else (lambda: None)
    if trainer.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    sync()
    start = time.perf_counter()
    for _ in range(steps):
        trainer.step()
    sync()
    seconds = time.perf_counter() - start
    if trainer.device.type == "cuda":
        peak_mb = torch.cuda.max_memory_allocated() / 2**20
    else:
        status = Path("/proc/self/status").read_text()
        peak_mb = (
            int(next(line for line in status.splitlines() if line.startswith("VmHWM")).split()[1]) / 1024
        )
    from rdvae.device import cpu_model

    return {
        "machine": torch.cuda.get_device_name() if trainer.device.type == "cuda" else cpu_model(),
        "arch": arch, "members": members, "stack": stack, "steps": steps,
        "model_steps_per_s": members * steps / seconds, "peak_memory_mb": round(peak_mb, 1),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--members", type=int, nargs="+", default=[12])
    parser.add_argument("--archs", default="mlp1,mlp3,cnn1,cnn3")
    parser.add_argument(
        "--one", nargs=4, metavar=("ARCH", "MEMBERS", "STACK", "STEPS"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.one:
        arch, members, stack, steps = args.one
        print(json.dumps(measure(arch, int(members), int(stack), args.device, int(steps))))
        return
    rows = []
    for members in args.members:
        for arch in args.archs.split(","):
            steps = STEPS[arch] if args.device == "cpu" else 50
            layouts = sorted({1, min(4, members), members})
            for stack in layouts:
                command = [
                    sys.executable,
                    __file__,
                    "--device",
                    args.device,
                    "--one",
                    arch,
                    str(members),
                    str(stack),
                    str(steps),
                ]
                out = subprocess.run(command, capture_output=True, text=True, check=True, env=os.environ)
                rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
                print(rows[-1], flush=True)
    looped = {(r["arch"], r["members"]): r["model_steps_per_s"] for r in rows if r["stack"] == 1}
    for r in rows:
        r["ratio_vs_looped"] = round(r["model_steps_per_s"] / looped[(r["arch"], r["members"])], 3)
    out = Path(__file__).parent / "results" / f"train-{args.device}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(rows, indent=2))
    print(f"{'arch':<6}{'M':>4}{'stack':>7}{'model-steps/s':>15}{'vs looped':>11}{'peak MB':>10}")
    for r in rows:
        print(f"{r['arch']:<6}{r['members']:>4}{r['stack']:>7}{r['model_steps_per_s']:>15.1f}"
              f"{r['ratio_vs_looped']:>11.2f}{r['peak_memory_mb']:>10.0f}")  # fmt: skip


if __name__ == "__main__":
    main()
