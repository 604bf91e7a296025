"""Training steps with CPU denormals kept against flushed to zero, from the same checkpoint.

Late in training the decoder's logits for pixels that are black in every image keep falling, so
their gradients (sigmoid of the logit) and Adam's second moments underflow into denormal floats,
which x86 CPUs compute far more slowly.  This loads one checkpoint of a run in progress and times
``--steps`` training steps from it in fresh processes, alternating the two settings (``--repeats``
times each), after counting the denormals in the parameters and Adam's state.

Usage: ``python benchmarks/bench_denormal.py --profile long --arch mlp3 --split cv-0.1`` (its
checkpoint must be in the cache folder: a run stopped with Ctrl-C/SIGTERM leaves one); writes
``benchmarks/results/denormal-<arch>.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path


def measure(profile: str, key: tuple[str, ...], flush: bool, steps: int) -> dict:
    """In this process: the checkpoint's trainer, its denormal count, seconds per step."""
    import torch

    torch.set_flush_denormal(flush)  # before torch starts its threads, so that all of them inherit it

    from rdvae import paths, runs
    from rdvae.device import denormals_flushed
    from rdvae.train import Trainer, load_state

    config = runs.config_for(profile, key)
    path = paths.checkpoint_dir() / f"{config.run_id}.pt"
    if not path.exists():
        raise SystemExit(f"no checkpoint {path}: train {config.run_id} and stop it (Ctrl-C) first")
    trainer = Trainer(config, "cpu", flush_denormal=load_state(path, mmap=True).get("flush_denormal", False))
    trainer.load_checkpoint()
    tensors = [p for m in trainer.models for p in m.parameters()]
    tensors += [v for o in trainer.optimizers for st in o.state.values() for v in st.values() if v.dim() > 0]
    bits = [t.detach().view(torch.int32) for t in tensors]  # integer tests: immune to the flag itself
    denormal = sum(int(((b & 0x7F800000) == 0).logical_and_((b & 0x007FFFFF) != 0).sum()) for b in bits)
    trainer.flush_denormal = flush
    with trainer.precision():
        assert denormals_flushed() == (flush, flush), "the flag did not reach every thread"
        trainer.step()  # warm-up
        start = time.perf_counter()
        for _ in range(steps):
            trainer.step()
        seconds = (time.perf_counter() - start) / steps
    return {
        "run_id": config.run_id, "iteration": trainer.iteration - steps - 1, "flush_denormal": flush,
        "threads": torch.get_num_threads(), "denormal_values": denormal,
        "values": sum(b.numel() for b in bits), "seconds_per_step": seconds,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--profile", default="long")
    parser.add_argument("--arch", default="mlp3")
    parser.add_argument("--split", default="cv-0.1")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--one", choices=["kept", "flushed"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    key = (args.split, args.arch)
    if args.one:
        print(json.dumps(measure(args.profile, key, args.one == "flushed", args.steps)))
        return
    rows = []
    for _ in range(args.repeats):
        for setting in ("kept", "flushed"):
            command = [sys.executable, __file__, "--profile", args.profile, "--arch", args.arch,
                       "--split", args.split, "--steps", str(args.steps), "--one", setting]  # fmt: skip
            out = subprocess.run(command, capture_output=True, text=True, check=True)
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(rows[-1], flush=True)
    kept = [r["seconds_per_step"] for r in rows if not r["flush_denormal"]]
    flushed = [r["seconds_per_step"] for r in rows if r["flush_denormal"]]
    summary = {
        "kept_s": min(kept),
        "flushed_s": min(flushed),
        "ratio_flushed_vs_kept": min(flushed) / min(kept),
    }
    from rdvae.device import cpu_model

    result = {"machine": cpu_model(), "rows": rows, **summary}
    out = Path(__file__).parent / "results" / f"denormal-{args.arch}.json"
    out.write_text(json.dumps(result, indent=2))
    first = rows[0]
    print(
        f"{first['run_id']} at iteration {first['iteration']:,}: {first['denormal_values']:,} denormals of "
        f"{first['values']:,} values; s/step kept {summary['kept_s']:.3f}, flushed {summary['flushed_s']:.3f}"
        f" ({summary['ratio_flushed_vs_kept']:.2f}x)"
    )


if __name__ == "__main__":
    main()
