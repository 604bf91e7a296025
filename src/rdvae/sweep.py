"""The whole paper as one sweep: every configuration the chosen figures need, fanned out as Ray tasks.

``plan`` turns figures into run configs (from the ledger's claims, so a sweep trains exactly what the
verdicts read) at a profile's budget and drops those the store already holds.  ``run`` submits one
Ray task per config with its resource request (``num_gpus`` per run on a cluster, CPUs locally); each
task is :func:`rdvae.train.run`, which resumes from the config's checkpoint and writes its run folder
into the store atomically (write to a temporary folder, then rename), so tasks never see each other's
half-written results.  A worker killed mid-run is retried by Ray and resumes from its last checkpoint;
a sweep killed as a whole is re-run with the same command and picks up where it stopped.

With no ``address`` Ray starts a local instance on this machine.  On a cluster (``ray start --head``
on one node, ``ray start --address=HEAD:6379`` on the others), pass ``address="auto"`` from a node of
it, or ``ray://HEAD:10001`` from outside; the store and the cache folder (checkpoints) must then be on a
filesystem every node mounts, named by ``--store`` and ``$RDVAE_CACHE``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from rdvae import ledger, paths, store
from rdvae.config import PAPER_BATCH_SIZE, RunConfig
from rdvae.runs import config_for, label

FIGURES = {
    "3": "Figure 3",
    "4": "Figure 4",
    "5": "Figure 5",
    "6": "Figure 6",
    "7": "Figure 7",
    "8": "Figure 8",
    "appendix": "Appendix",
}
BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"
FORWARDED_ENV = (paths.CACHE_ENV, "RDVAE_DATA")  # the workers' cache (checkpoints) and data folders


def keys_for_figures(figures: Iterable[str], datasets: Iterable[str] = ("digits",)) -> list[tuple]:
    """The run keys the claims of ``figures`` ("3", "8", "appendix", ...) compare."""
    claims = []
    for figure in figures:
        if figure not in FIGURES:
            raise ValueError(f"unknown figure {figure!r}; choose from {', '.join(FIGURES)}")
        name = FIGURES[figure]
        claims += ledger.figure7_claims(list(datasets)) if figure == "7" else ledger.claims_for(name)
    return ledger.keys_for(claims)


def plan(profile: str, figures: Iterable[str], store_path: str | Path | None = None) -> tuple[list, list]:
    """(configs still to train, configs already stored) for ``figures`` at ``profile``."""
    root = Path(store_path) if store_path else store.profile_store(profile)
    todo, done = [], []
    for key in keys_for_figures(figures):
        config = config_for(profile, key)
        (done if store.load(config, root) is not None else todo).append(config)
    return todo, done


def throughput(device: str) -> tuple[dict[str, float], str]:
    """Measured model-steps/s per architecture on ``device`` (``benchmarks/results/train-<device>.json``,
    the fastest layout of each) and the machine it was measured on; ({}, "") before that benchmark ran."""
    path = BENCHMARKS / f"train-{device}.json"
    if not path.exists():
        return {}, ""
    best: dict[str, float] = {}
    rows = json.loads(path.read_text())
    for row in rows:
        best[row["arch"]] = max(best.get(row["arch"], 0.0), row["model_steps_per_s"])
    return best, rows[0].get("machine", "an unrecorded machine")


def estimate_hours(config: RunConfig, speeds: dict[str, float]) -> float | None:
    """Device-hours of training one config at the benchmarked speed (evaluation not included); the
    benchmark's steps are of batch 128, and a step's cost grows in proportion to its batch."""
    speed = speeds.get(config.arch)
    steps = config.iterations * config.batch_size / PAPER_BATCH_SIZE  # in steps of the benchmark's batch
    return None if not speed else len(config.members) * steps / speed / 3600


def describe(todo: list, done: list, device: str) -> list[str]:
    """The dry run's lines: each config to train with its estimate, and the total."""
    speeds, machine = throughput(device)
    lines, total = [], 0.0
    for config in todo:
        hours = estimate_hours(config, speeds)
        total += hours or 0.0
        when = f"{hours:7.2f} h" if hours is not None else "      ? h"
        lines.append(
            f"  {when}  {config.run_id:<34} {len(config.members)} members x {config.iterations:,} it"
        )
    source = f"benchmarks/results/train-{device}.json, {machine}" if speeds else f"no {device} benchmark yet"
    lines.append(
        f"{len(todo)} to train, {len(done)} already stored; about {total:.1f} {device}-hours of training "
        f"at the benchmarked speed ({source}; one run at a time per device)"
    )
    return lines


def _train_task(config_json: dict, device: str, store_path: str, checkpoint_seconds: float) -> dict:
    """One Ray task: train (or resume, or load) one config into the store."""
    import torch

    torch.set_flush_denormal(True)  # as `rdvae train`: before this worker's torch threads start
    from rdvae import train

    config = RunConfig.from_json({k: tuple(v) if isinstance(v, list) else v for k, v in config_json.items()})
    start = time.perf_counter()
    train.run(config, device, store_path, checkpoint_seconds, progress=False)
    return {"run_id": config.run_id, "seconds": time.perf_counter() - start, "host": os.uname().nodename}


def run(
    configs: list[RunConfig],
    store_path: str | Path,
    device: str = "cpu",
    address: str | None = None,
    cpus_per_run: float = 1,
    gpus_per_run: float = 0,
    num_cpus: int | None = None,
    retries: int = 2,
    checkpoint_seconds: float = 300.0,
    log: Callable[[str], None] | None = None,
) -> list[dict]:
    """Train ``configs`` as Ray tasks; one log line per finished run, an overall progress bar, and the
    tasks' results (failed ones carry ``error``)."""
    import ray
    from tqdm.auto import tqdm

    env = {name: os.environ[name] for name in FORWARDED_ENV if os.environ.get(name)}
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(
            address=address, num_cpus=num_cpus if address is None else None, runtime_env={"env_vars": env},
            include_dashboard=False, log_to_driver=False, logging_level="ERROR",
        )  # fmt: skip
    try:
        task = ray.remote(num_cpus=cpus_per_run, num_gpus=gpus_per_run, max_retries=retries)(_train_task)
        target = str(Path(store_path).resolve())
        pending = {task.remote(c.to_json(), device, target, checkpoint_seconds): c for c in configs}
        finished = []
        with tqdm(total=len(pending), desc="sweep", unit="run") as bar:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                config = pending.pop(ready[0])
                try:
                    result = ray.get(ready[0])
                    line = f"done  {config.run_id:<34} {result['seconds']:8.1f} s on {result['host']}"
                except Exception as err:  # noqa: BLE001 - a failed run is reported, the sweep goes on
                    result = {"run_id": config.run_id, "error": f"{type(err).__name__}: {err}"}
                    line = f"FAIL  {config.run_id:<34} {result['error'].splitlines()[0]}"
                finished.append(result)
                (log or bar.write)(f"{line}  {label_of(config)}")
                bar.update(1)
        return finished
    finally:
        if started_here:
            ray.shutdown()


def label_of(config: RunConfig) -> str:
    extra = ("early-stopping",) if config.early_stopping else ()
    extra += (f"dataset={config.dataset}",) if config.dataset != "tetrominoes" else ()
    return label((config.split, config.arch, *extra))
