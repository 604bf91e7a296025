"""One prepared call on a lent GPU: check it, measure it, then train what fits and bring it back.

A GPU is lent for minutes (one call of at most 10 minutes in a session's budget), the machine is
bare, and only a few small files come back from ``$OUT``.  This script turns such a call into
committed results without improvisation:

1. ``tests/test_gpu.py`` (stack = members one by one on the GPU, GPU resume, TF32 recorded).  If it
   fails, the probes below still run but nothing is trained: numbers from a trainer that is wrong on
   the GPU must not be committed.
2. The full dataset is rendered there (all cores), not carried.
3. A probe per (profile, architecture): the real configuration's stack (every member) is built and
   timed for a few steps, and the same members looped one stack each, so every session measures
   its steps/s and the stacked/looped ratio.  Estimated seconds for a run are :func:`estimate`.
4. The candidates (:func:`default_candidates`: issue 10's runs at the paper's protocol first, then the
   runs ``rdvae verdicts --next`` lists from the committed store) are trained one after another by
   ``rdvae train`` in a child process, each only when its estimate fits the time left, each under a
   hard timeout (SIGTERM: the trainer checkpoints and exits).  Runs already in ``results/`` are skipped.  A
   configuration too long for the time left, or one some of whose seeds came back from an earlier
   call, is trained a seed at a time instead (:func:`rdvae.store.seed_shards`): each seed that fits
   comes back as a run folder of its own, and the book assembles them once all are committed.
5. After every finished run, ``runs.tgz`` (``results/<profile>/<run id>/`` folders) is rewritten in
   ``--out``, with ``session.json`` (what ran, estimated against actual seconds, the probes) and the
   logs, so whatever is done when the call ends comes back.

Usage, from the repository root on the device machine (its ``python3`` has torch, OpenCV, tqdm, pyyaml,
scikit-learn and pytest)::

    RDVAE_CACHE=$PWD/.device-cache PYTHONUNBUFFERED=1 PYTHONPATH=src \
        python3 benchmarks/device_session.py --out "$OUT" --budget 540 --next-call 270

and, while the machine is warm (it goes back 30 s after a call), a second call that finishes the run
the first one stopped at its deadline: the same line with ``--budget`` the session's time left less
40 s, ``--next-call 0 --skip-tests``.  The cache (rendered dataset, checkpoints) lies in the working
tree's git-ignored ``.device-cache``, which the device keeps between calls.  Then here:
``tar xzf <files_at>/runs.tgz`` in the checkout, and commit the new run folders.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from rdvae import paths, runs, store  # noqa: E402
from rdvae.config import RunConfig  # noqa: E402
from rdvae.profiles import DEFAULT_PROFILE  # noqa: E402

#: A run to consider: profile, run key, and iterations (None: the profile's own).
Candidate = tuple[str, runs.RunKey, "int | None"]

#: Issue 10's runs at the paper's protocol, in the order a lent GPU should spend its time on them:
#: Figure 3's CV(16k) pair and Figure 8, Figure 3's Default pair, Figure 5, appendix A.3.
PAPER_CANDIDATES: tuple[Candidate, ...] = (
    *(("paper", (s, a), None) for s in ("cv-0.1", "default", "checkerboard") for a in ("mlp1", "mlp3")),
    ("paper", ("cv-0.1", "mlp1", "early-stopping"), None),
)
PACKING_RESERVE_S = 15.0  # kept free at the end of the budget to write runs.tgz and session.json
START_ALLOWANCE_S = 20.0  # a child process: python, torch and CUDA start, dataset checksum, stack build
EVAL_SAFETY = 1.5  # the final evaluation is estimated from the step time, not measured: allow 50 % more
#: what a following call spends before it trains on: start, dataset read from the cache, probes
NEXT_CALL_OVERHEAD_S = 60.0


@dataclass
class Probe:
    """Measured seconds per training step of one configuration's stack, stacked and looped."""

    stacked_step_s: float
    looped_step_s: float
    members: int

    @property
    def model_steps_per_s(self) -> float:
        return self.members / self.stacked_step_s

    @property
    def ratio_vs_looped(self) -> float:
        return self.looped_step_s / self.stacked_step_s


@dataclass
class Outcome:
    profile: str
    key: list[str]
    run_id: str
    status: str  # stored already | to do | skipped | trained | stopped | failed (exit N) | in seed shards
    seeds: list[int] | None = None  # a seed shard's seed; None: the whole configuration
    iterations: int | None = None  # None: the profile's own
    resumed_at: int = 0  # the iteration of the checkpoint an earlier call left it at
    estimate_s: float | None = None
    actual_s: float | None = None
    note: str = ""


def estimate(config: RunConfig, step_s: float, done: int = 0) -> float:
    """Seconds for ``config`` in a fresh process, resumed at iteration ``done`` (0: from scratch):
    start-up, the ``iterations - done`` steps left, their learning-curve evaluations, and the final
    evaluation.

    Evaluating one example costs about a third of training on it (a forward pass, no backward), so
    with B examples per step an evaluation of E examples is ~ step_s * E / (3 B).  The final
    evaluation reads every evaluation example of both partitions once and the importance-sampled
    log p(x) examples K times (decoder passes), with :data:`EVAL_SAFETY` on top.
    """
    sizes = config.partition_sizes()
    per_example = step_s / (3 * config.batch_size)
    steps = config.iterations - done
    curves = (steps / config.eval_every + 1) * 2 * config.curve_examples * per_example
    evaluated = sum(
        n if config.eval_examples is None else min(n, config.eval_examples) for n in sizes.values()
    )
    iwae = 2 * config.iwae_examples * config.iwae_samples
    final = EVAL_SAFETY * (evaluated + iwae) * per_example
    return START_ALLOWANCE_S + steps * step_s + curves + final


def checkpointed_iteration(config: RunConfig) -> int:
    """The iteration ``config``'s checkpoint in this machine's cache reached: an earlier call stopped
    it at its deadline, and ``rdvae train`` resumes it there.  0 without one (or with one that cannot
    be read: the trainer refuses it with the fix)."""
    from rdvae.train import load_state

    path = paths.checkpoint_file(config.run_id)
    try:
        return int(load_state(path, mmap=True)["iteration"]) if path.exists() else 0
    except Exception:  # noqa: BLE001 - estimated from scratch; the trainer reports the file
        return 0


def probe(config: RunConfig, device: str, steps: int = 20, looped_steps: int = 3) -> Probe:
    """Time ``steps`` training steps of the configuration's stack after warm-up, and ``looped_steps``
    with one member per stack (the same members trained one after another)."""
    import torch

    from rdvae.train import Trainer

    def seconds_per_step(trainer: Trainer, n: int) -> float:
        for _ in range(3):
            trainer.step()
        sync = torch.cuda.synchronize if trainer.device.type == "cuda" else (lambda: None)
        sync()
        start = time.perf_counter()
        for _ in range(n):
            trainer.step()
        sync()
        return (time.perf_counter() - start) / n

    stack = Trainer(config, device)
    with stack.precision():
        stacked = seconds_per_step(stack, steps)
    del stack
    loop = Trainer(config, device, stack_size=1)
    with loop.precision():
        looped = seconds_per_step(loop, looped_steps)
    del loop
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return Probe(stacked, looped, len(config.members))


def default_candidates() -> list[Candidate]:
    """:data:`PAPER_CANDIDATES`, then the runs ``rdvae verdicts --next`` lists from the store (the
    claims closest to being decided at a more-trained budget first, then those of the claims no
    budget above ``cpu`` holds a run of, then those that bring the claims decided at ``long``'s 50,000
    iterations up to the 100,000 some of its runs are at), each once: a GPU trains in minutes the runs
    a CPU takes hours for, and the list follows the store, so a call never spends its time on what is
    committed."""
    from rdvae import ledger

    claims = ledger.paper_claims()
    evidence = runs.get_runs(DEFAULT_PROFILE, ledger.keys_for(claims), train_missing=False)
    to_train, _, to_start = ledger.next_runs(claims, evidence, DEFAULT_PROFILE)
    to_extend = ledger.runs_to_extend(claims, evidence)
    next_up = to_train + to_start + to_extend
    listed = [*PAPER_CANDIDATES, *((run.tier[0], run.key, run.tier[1]) for run in next_up)]
    return list(dict.fromkeys(listed))  # each once, first place kept


def train_in_child(
    profile: str,
    key: runs.RunKey,
    device: str,
    timeout_s: float,
    log,
    seeds: list[int] | None = None,
    iterations: int | None = None,
) -> tuple[str, float]:
    """``rdvae train`` for one run (or, with ``seeds``, one seed shard of it; with ``iterations``,
    trained that long) in a child process; SIGTERM at ``timeout_s`` (it checkpoints and exits 130).
    Returns (status, seconds)."""
    command = runs.command(profile, key, iterations).split()[2:]  # drop "rdvae train"
    command[command.index("--store") + 1] = str(store.profile_store(profile))  # where pack() looks
    if seeds is not None:
        command += ["--seeds", ",".join(map(str, seeds))]
    argv = [sys.executable, "-m", "rdvae.cli", "train", *command, "--device", device]
    start = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    child = subprocess.Popen(argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        code = child.wait(timeout=max(1.0, timeout_s))
    except subprocess.TimeoutExpired:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=60)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        return "stopped", time.perf_counter() - start
    return ("trained" if code == 0 else f"failed (exit {code})"), time.perf_counter() - start


def pack(outcomes: list[Outcome], out: Path) -> None:
    """``runs.tgz``: every run folder trained in this session, as ``results/<profile>/<run id>/``."""
    tmp = out / "runs.tgz.tmp"
    with tarfile.open(tmp, "w:gz") as archive:
        for o in outcomes:
            if o.status == "trained":
                folder = store.profile_store(o.profile) / o.run_id
                archive.add(folder, arcname=f"results/{o.profile}/{o.run_id}")
    tmp.replace(out / "runs.tgz")


def run_gpu_tests(out: Path, timeout_s: float) -> dict:
    """``pytest tests/test_gpu.py``; its log goes to ``test_gpu.log``."""
    start = time.perf_counter()
    with open(out / "test_gpu.log", "w") as log:
        try:
            code = subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_gpu.py"],
                cwd=REPO, stdout=log, stderr=subprocess.STDOUT, timeout=timeout_s,
                env={**os.environ, "PYTHONPATH": str(REPO / "src")},
            ).returncode  # fmt: skip
        except subprocess.TimeoutExpired:
            code = "timeout"
    tail = (out / "test_gpu.log").read_text().strip().splitlines()[-1:]
    return {"exit": code, "seconds": round(time.perf_counter() - start, 1), "summary": tail}


def session(
    out: Path,
    budget_s: float,
    device: str = "cuda",
    candidates: list[Candidate] | None = None,
    tests: bool = True,
    probe_steps: int = 20,
    next_call_s: float = 0.0,
) -> dict:
    """Everything above, within ``budget_s`` seconds of wall clock from now, for ``candidates`` (by
    default :func:`default_candidates`); returns session.json's contents (also written to ``out``).

    ``next_call_s``: the seconds a following call on this machine, while it stays warm, can still
    have.  A run whose estimate exceeds the time left but fits it and that call's (less
    :data:`NEXT_CALL_OVERHEAD_S`) is started anyway and stopped at the deadline with its checkpoint in
    the cache; the next call resumes it there (:func:`checkpointed_iteration`).  So a run longer than
    one call (a paper seed at 257k iterations) still trains, in two."""
    import torch

    from rdvae.profiles import get_profile

    deadline = time.monotonic() + budget_s
    out.mkdir(parents=True, exist_ok=True)
    report: dict = {
        "device": device,
        "device_name": torch.cuda.get_device_name() if device.startswith("cuda") else "cpu",
        "torch": torch.__version__,
        "budget_s": budget_s,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "probes": {},
        "runs": [],
    }

    def save() -> None:
        report["runs"] = [vars(o) for o in outcomes]
        (out / "session.json").write_text(json.dumps(report, indent=2, default=str))

    outcomes: list[Outcome] = []
    if tests:
        report["gpu_tests"] = run_gpu_tests(out, timeout_s=min(300.0, budget_s / 3))
        save()
    may_train = not tests or report["gpu_tests"]["exit"] == 0
    if not may_train:
        print(f"GPU tests did not pass ({report['gpu_tests']}): probes only, nothing trained", flush=True)
    for profile, key, iterations in default_candidates() if candidates is None else candidates:
        config = runs.config_for(profile, key, iterations=iterations)
        stored = store.load(config, store.profile_store(profile)) is not None
        status = "stored already" if stored else "to do"
        outcomes.append(Outcome(profile, list(key), config.run_id, status, iterations=iterations))
    todo = [o for o in outcomes if o.status == "to do"]
    if any(get_profile(o.profile).full_dataset for o in todo):
        from rdvae.data import tetrominoes

        start = time.perf_counter()
        tetrominoes.load_images(progress=False)
        report["dataset_s"] = round(time.perf_counter() - start, 1)
    probes: dict[tuple, Probe] = {}

    def measured_estimate(outcome: Outcome, config: RunConfig) -> float | None:
        """Seconds ``config`` is estimated to take, its stack layout probed first if it has not been;
        None, with a note, where too little time is left to probe."""
        layout = (outcome.profile, config.arch, len(config.members), config.batch_size)
        if layout not in probes:
            left = deadline - time.monotonic() - PACKING_RESERVE_S
            if left < 60:
                outcome.note = f"{left:.0f} s left: too little to probe {layout}"
                return None
            probes[layout] = measured = probe(config, device, steps=probe_steps)
            report["probes"][":".join(map(str, layout))] = {
                **vars(measured),
                "model_steps_per_s": round(measured.model_steps_per_s, 1),
                "ratio_vs_looped": round(measured.ratio_vs_looped, 2),
            }
            save()
        return round(estimate(config, probes[layout].stacked_step_s, outcome.resumed_at), 1)

    def attempt(outcome: Outcome, config: RunConfig, log) -> bool:
        """Train ``config`` (a whole configuration or one seed shard) if its estimate fits; returns
        whether it was skipped because its estimate exceeded the time left."""
        profile, key = outcome.profile, tuple(outcome.key)
        outcome.status = "skipped"
        outcome.resumed_at = checkpointed_iteration(config)
        outcome.estimate_s = measured_estimate(outcome, config)
        if outcome.estimate_s is None:
            return False
        left = deadline - time.monotonic() - PACKING_RESERVE_S
        carried = outcome.estimate_s > left  # finished by the next call, if it fits that call too
        if carried and outcome.estimate_s > left + next_call_s - NEXT_CALL_OVERHEAD_S:
            outcome.note = f"estimated {outcome.estimate_s:.0f} s > {left:.0f} s left"
            return True
        if not may_train:
            outcome.note = "not trained: the GPU tests did not pass"
            return False
        resumed = f", resumed at iteration {outcome.resumed_at:,}" if outcome.resumed_at else ""
        print(
            f"{profile} {config.run_id}: estimated {outcome.estimate_s:.0f} s of {left:.0f} s{resumed}",
            flush=True,
        )
        log.write(f"\n=== {profile} {config.run_id}\n")
        log.flush()
        outcome.status, seconds = train_in_child(
            profile, key, device, left, log, outcome.seeds, outcome.iterations
        )
        outcome.actual_s = round(seconds, 1)
        if outcome.status == "stopped":
            reached = checkpointed_iteration(config)
            outcome.note = (
                f"stopped at the deadline at iteration {reached:,} of {config.iterations:,}; its checkpoint "
                f"in {paths.checkpoint_dir()} lets the next call on this machine finish it"
                if carried and reached
                else "stopped at the deadline"
            )
        print(f"  {outcome.status} in {seconds:.0f} s {outcome.note}".rstrip(), flush=True)
        if outcome.status == "trained":
            pack(outcomes, out)
        save()
        return False

    with open(out / "train.log", "a") as log:
        for outcome in todo:
            config = runs.config_for(outcome.profile, tuple(outcome.key), iterations=outcome.iterations)
            shards = store.seed_shards(config)
            root = store.profile_store(outcome.profile)
            missing = [shard for shard in shards if store.load(shard, root) is None]
            if len(missing) == len(shards):  # no seed of it stored: the whole configuration, if it fits
                if not (attempt(outcome, config, log) and shards):
                    continue
                outcome.note = f"whole configuration {outcome.note}; a seed at a time instead"
            else:
                outcome.note = f"{len(shards) - len(missing)} of {len(shards)} seeds stored before this call"
            outcome.status = "in seed shards"
            for shard in missing:
                piece = Outcome(
                    outcome.profile, outcome.key, shard.run_id, "to do", list(shard.seeds), outcome.iterations
                )
                outcomes.append(piece)
                attempt(piece, shard, log)
    report["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    save()
    return report


def parse_candidate(text: str) -> Candidate:
    """``PROFILE:SPLIT:ARCH[:VARIANT][@ITERATIONS]``, e.g. ``paper:cv-0.1:mlp1``,
    ``cpu:cv-0.1:mlp1:early-stopping`` or ``long:default:mlp3@100000``."""
    run, at, count = text.partition("@")
    profile, *key = run.split(":")
    if len(key) < 2 or (at and not (count.isdigit() and int(count) > 0)):
        raise argparse.ArgumentTypeError(f"expected PROFILE:SPLIT:ARCH[:VARIANT][@ITERATIONS], got {text!r}")
    iterations = int(count) if at else None
    runs.config_for(profile, tuple(key), iterations=iterations)  # validates profile, split, arch, variant
    return profile, tuple(key), iterations


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True, help="folder whose files come back ($OUT)")
    parser.add_argument("--budget", type=float, required=True, help="seconds of wall clock for everything")
    parser.add_argument("--device", default="cuda")
    parser.add_argument(
        "--candidates", nargs="+", type=parse_candidate, metavar="PROFILE:SPLIT:ARCH[:VARIANT][@ITERATIONS]",
        help="runs to consider, in order (default: issue 10's paper runs, then `rdvae verdicts --next`'s)",
    )  # fmt: skip
    parser.add_argument("--skip-tests", action="store_true", help="do not run tests/test_gpu.py first")
    parser.add_argument("--probe-steps", type=int, default=20, help="timed steps per probe")
    parser.add_argument(
        "--next-call", type=float, default=0.0, metavar="SECONDS",
        help="seconds a following call on this warm machine can still have: a run that fits this call "
        "and that one together is started, stopped at the deadline and resumed there (default 0)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if not math.isfinite(args.budget) or args.budget <= 0:
        parser.error(f"--budget must be a positive number of seconds, got {args.budget}")
    if not math.isfinite(args.next_call) or args.next_call < 0:
        parser.error(f"--next-call must be 0 or more seconds, got {args.next_call}")
    report = session(
        args.out,
        args.budget,
        args.device,
        args.candidates,
        not args.skip_tests,
        args.probe_steps,
        args.next_call,
    )
    trained = [r for r in report["runs"] if r["status"] == "trained"]
    print(f"{len(trained)} runs trained; session.json and runs.tgz in {args.out}")
    return 0 if report.get("gpu_tests", {}).get("exit", 0) == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
