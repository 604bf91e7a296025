"""What the pause clock costs a training run: ``Trainer.train`` with :class:`rdvae.pauses.PauseClock`
(a thread that wakes once a second) against the same run with a clock that does nothing, alternated
in one process (and in alternating order) so that both see the same machine.

Usage: ``python benchmarks/bench_pause_clock.py [--iterations 300] [--repeats 3]``; prints the
seconds of each run and the ratio of the medians (with clock / without).
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace

from rdvae import train
from rdvae.config import RunConfig
from rdvae.pauses import PauseClock


class NoClock:
    """A stand-in for :class:`PauseClock` that counts nothing and starts no thread."""

    paused = 0.0

    def __enter__(self) -> NoClock:
        return self

    def __exit__(self, *_exc) -> None:
        pass


def timed_run(config: RunConfig, clock) -> float:
    train.PauseClock = clock
    trainer = train.Trainer(config)
    start = time.perf_counter()
    trainer.train(checkpoint_seconds=float("inf"), progress=False)
    seconds = time.perf_counter() - start
    trainer.checkpoint_path().unlink()  # the final checkpoint: nothing to resume, so nothing to keep
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    config = RunConfig(
        split="cv-0.1", arch="mlp1", betas=(0.1, 1.0), seeds=(0, 1), iterations=args.iterations,
        train_limit=2048, eval_every=args.iterations, curve_examples=64,
    )  # fmt: skip
    seconds = {"clock": [], "none": []}
    for k in range(args.repeats):
        order = [("clock", PauseClock), ("none", NoClock)]
        for name, clock in order if k % 2 == 0 else order[::-1]:  # alternated: no side always first
            seconds[name].append(timed_run(replace(config, seeds=(k, k + 100)), clock))
    train.PauseClock = PauseClock
    for name, values in seconds.items():
        print(f"{name:>6}: " + ", ".join(f"{s:.2f} s" for s in values))
    ratio = statistics.median(seconds["clock"]) / statistics.median(seconds["none"])
    print(f"with clock / without: {ratio:.3f} (medians of {args.repeats})")


if __name__ == "__main__":
    main()
