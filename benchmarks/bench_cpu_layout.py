"""How to spend a CPU's cores on several configurations: one process with every thread, or one
single-threaded process per core running side by side.

Each layout trains the same 8 members (4 betas x 2 seeds, stacks of 4) of one MLP configuration for
a fixed number of steps in fresh processes; the figure is total member-steps/s over all processes,
and the ratio is against one process using all threads, measured in the same benchmark run.  Run it
on an otherwise idle machine (pause long trainings with SIGSTOP/SIGCONT).

Usage: ``python benchmarks/bench_cpu_layout.py [--arch mlp1] [--steps 40]``;
writes ``benchmarks/results/cpu-layout-<arch>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

WORKER = """
import json, sys, time, torch
from rdvae.config import RunConfig
from rdvae.train import Trainer
arch, steps = sys.argv[1], int(sys.argv[2])
config = RunConfig(split="cv-0.1", arch=arch, betas=(0.01, 0.1, 1.0, 3.0), seeds=(0, 1), iterations=10**6,
                   curve_examples=8, train_limit=4096)
trainer = Trainer(config, "cpu")
for _ in range(3):
    trainer.step()
start = time.perf_counter()
for _ in range(steps):
    trainer.step()
print(json.dumps({"member_steps_per_s": len(config.members) * steps / (time.perf_counter() - start)}))
"""


def run_layout(processes: int, threads: int, arch: str, steps: int) -> float:
    """Total member-steps/s of ``processes`` concurrent workers with ``threads`` threads each."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, arch, str(steps)], env=env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(processes)
    ]
    rates = [json.loads(w.communicate()[0].strip().splitlines()[-1])["member_steps_per_s"] for w in workers]
    return sum(rates)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--arch", default="mlp1")
    parser.add_argument("--steps", type=int, default=40)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    layouts = [(1, cores), (1, 1), (cores, 1)]
    rows = [
        {"processes": p, "threads": t, "member_steps_per_s": run_layout(p, t, args.arch, args.steps)}
        for p, t in layouts
    ]
    baseline = rows[0]["member_steps_per_s"]
    for row in rows:
        row |= {
            "arch": args.arch,
            "ratio_vs_one_process_all_threads": round(row["member_steps_per_s"] / baseline, 3),
        }
        layout = f"{row['processes']} process(es) x {row['threads']} thread(s)"
        print(f"{layout}: {row['member_steps_per_s']:6.1f} member-steps/s "
              f"({row['ratio_vs_one_process_all_threads']:.2f}x)")  # fmt: skip
    out = Path(__file__).parent / "results" / f"cpu-layout-{args.arch}.json"
    from rdvae.device import cpu_model

    out.write_text(json.dumps({"machine": cpu_model(), "cpus": cores, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
