"""Runs in progress: what the checkpoints in the cache say about unfinished trainings.

A long run (the ``long`` or ``paper`` profile) spans sessions: it trains until stopped, checkpoints,
and resumes when its command is run again.  :func:`in_progress` reads each checkpoint (memory-mapped,
without building a model) and reports how far the run is and where its last learning-curve point
stands, per beta, as the mean over seeds of the train and test distortion, beside the lowest test
distortion so far and when it was.  That answers "is it still improving, or already overfitting?"
without waiting for the run to finish.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from rdvae import paths
from rdvae.config import RunConfig
from rdvae.ledger import u_shape
from rdvae.profiles import PROFILES
from rdvae.summary import curve_by_beta, curve_values, lowest_on_curve
from rdvae.train import load_state


def last_curve_point(curves: list[dict]) -> tuple[int | None, list[dict]]:
    """The last evaluated iteration and, per beta (ascending), the mean over seeds of the train and
    test distortion there, and the lowest mean test distortion so far with its iteration:
    ``[{"beta", "seeds", "train", "test", "lowest_test", "lowest_at"}]``."""
    if not curves:
        return None, []
    last = max(row["iteration"] for row in curves)
    train, test = (curve_values(curves, partition, last) for partition in ("train", "test"))
    lowest = lowest_on_curve(curves)
    out = []
    for beta in sorted(set(train) | set(test)):
        seeds_train, seeds_test = train.get(beta, []), test.get(beta, [])
        lowest_test, lowest_at = lowest.get(beta, (float("nan"), None))
        out.append(
            {
                "beta": beta,
                "seeds": max(len(seeds_train), len(seeds_test)),
                "train": float(np.mean(seeds_train)) if seeds_train else float("nan"),
                "test": float(np.mean(seeds_test)) if seeds_test else float("nan"),
                "lowest_test": lowest_test,
                "lowest_at": lowest_at,
            }
        )
    return last, out


def speed(state: dict) -> tuple[float | None, str]:
    """Iterations per second of training time, and what it was measured over: ``"last process"``
    since the iteration the latest training process started at (a run spans sessions, and this
    machine's speed under its present load is what forecasts the rest), or ``"whole run"`` for a
    checkpoint from before that was recorded, or whose last process has not yet trained a second.
    None before the first step."""
    done, elapsed = state["iteration"], state["elapsed"]
    started, started_elapsed = state.get("resumed_at") or (0, 0.0)  # absent: older checkpoints
    if done > started and elapsed - started_elapsed >= 1.0 and started > 0:
        return (done - started) / (elapsed - started_elapsed), "last process"
    return (done / elapsed if done and elapsed > 0 else None), "whole run"


def _number(value: float) -> str:
    """``value`` as short as it parses back exactly (0.01, 3, 1e-05)."""
    short = f"{value:g}"
    return short if float(short) == value else repr(value)


def _train_options(config: RunConfig) -> tuple[str, dict] | None:
    """The profile and the fewest ``rdvae train`` options whose config is ``config``: the profile
    needing the fewest, each option kept only where leaving it out changes the config.  None if no
    profile's budget gives it (a config built in Python with other fields)."""
    best = None
    for name, profile in PROFILES.items():
        for objective in (None, config.objective):  # None: the figures' beta-VAE at the profile's batch
            options = {
                "betas": config.betas, "seeds": config.seeds, "iterations": config.iterations,
                "dataset": config.dataset, "early_stopping": config.early_stopping or None,
                "objective": objective,
            }  # fmt: skip
            if profile.training.config(config.split, config.arch, **options) != config:
                continue
            for key in ("betas", "seeds", "iterations"):
                fewer = {**options, key: None}
                if profile.training.config(config.split, config.arch, **fewer) == config:
                    options = fewer
            options = {k: v for k, v in options.items() if v is not None}
            if best is None or len(options) < len(best[1]):
                best = (name, options)
    return best


def _shown_path(path: str) -> str:
    """``path`` relative to the working directory when inside it, as the command will be run there."""
    try:
        return os.path.relpath(path) if Path(path).resolve().is_relative_to(Path.cwd()) else path
    except ValueError:  # another drive (Windows)
        return path


def resume_command(config: RunConfig, launch: dict | None) -> str | None:
    """The ``rdvae train`` command that resumes ``config``'s checkpoint and finishes it as it was
    started: the same profile and options (so the same run id), and from ``launch`` (what the
    checkpoint recorded) the device, the store folder (none for a checkpoint a :class:`Trainer` wrote
    from Python: the default store) and ``--keep-state``.  None if no profile gives ``config``.  A
    checkpoint from before ``launch`` was recorded gets no ``--store``: the note says so."""
    found = _train_options(config)
    if found is None:
        return None
    profile, options = found
    words = ["rdvae train", f"--profile {profile}", f"--arch {config.arch}", f"--split {config.split}"]
    for key in ("betas", "seeds"):
        if key in options:
            words.append(f"--{key} " + ",".join(_number(v) for v in options[key]))
    if "iterations" in options:
        words.append(f"--iterations {options['iterations']}")
    if options.get("dataset", "tetrominoes") != "tetrominoes":
        words.append(f"--dataset {options['dataset']}")
    if "early_stopping" in options:
        words.append("--early-stopping")
    if "objective" in options:
        words.append(f"--objective {options['objective']}")
    if launch is None:
        return " ".join(words) + "  (add the --store it was started with; this checkpoint does not say)"
    if launch["device"] != "cpu":
        words.append(f"--device {launch['device']}")
    if launch["keep_state"]:
        words.append("--keep-state")
    if launch["store"] is not None:  # None: a Trainer run from Python, which stores nothing itself
        words.append(f"--store {_shown_path(launch['store'])}")
    return " ".join(words)


def in_progress() -> list[dict]:
    """One dict per checkpoint in the cache, by run id: ``run_id``, ``iteration``, ``iterations``,
    ``hours`` (training time so far), ``speed`` and ``speed_since`` (see :func:`speed`), ``hours_left``
    (the remaining iterations at that speed; None before the first step), ``evaluated_at`` and
    ``by_beta`` (see :func:`last_curve_point`), ``u_shape`` (:func:`rdvae.ledger.u_shape` of the last
    test point, or None with fewer than 3 betas), ``resume`` (:func:`resume_command`); or ``run_id``
    and ``error`` for a checkpoint that cannot be read."""
    out = []
    for path in sorted(paths.checkpoint_dir().glob("*.pt")):
        try:
            state = load_state(path, mmap=True)
            config = RunConfig.from_json(state["config"])
        except Exception as err:  # noqa: BLE001 - any unreadable checkpoint is reported the same way
            fix = f"delete {path} to restart that run"
            out.append({"run_id": path.stem, "error": f"unreadable ({err}); {fix}"})
            continue
        evaluated_at, by_beta = last_curve_point(state["curves"])
        last_test = curve_by_beta(state["curves"], "test", evaluated_at) if evaluated_at else []
        done = state["iteration"]
        rate, since = speed(state)
        out.append(
            {
                "run_id": config.run_id,
                "iteration": done,
                "iterations": config.iterations,
                "hours": state["elapsed"] / 3600,
                "paused_hours": state.get("paused", 0.0) / 3600,  # absent: older checkpoints
                "speed": rate,
                "speed_since": since,
                "hours_left": (config.iterations - done) / rate / 3600 if rate else None,
                "evaluated_at": evaluated_at,
                "by_beta": by_beta,
                # the ledger's U-shape test (claim F3c's) on the last test point; None: < 3 betas
                "u_shape": u_shape(last_test) if len(last_test) >= 3 else None,
                "resume": resume_command(config, state.get("launch")),  # absent: older checkpoints
            }
        )
    return out


def time_left(run: dict) -> str:
    """An :func:`in_progress` run's forecast, "~0.7 h left at 3.2 it/s"; only for a run with a speed
    (``hours_left`` not None)."""
    return f"~{run['hours_left']:.1f} h left at {run['speed']:.3g} it/s"


def describe(runs: list[dict]) -> list[str]:
    """Printable lines: a header per run, then one line per beta."""
    if not runs:
        return ["no runs in progress (no checkpoints in the cache)"]
    lines = []
    for run in runs:
        if "error" in run:
            lines.append(f"{run['run_id']}: {run['error']}")
            continue
        share = run["iteration"] / run["iterations"]
        left = f", {time_left(run)} ({run['speed_since']})" if run["hours_left"] is not None else ""
        stopped = f" (and {run['paused_hours'] * 60:.0f} min stopped)" if run.get("paused_hours") else ""
        head = (
            f"{run['run_id']}: {run['iteration']:,}/{run['iterations']:,} iterations ({share:.0%}), "
            f"{run['hours']:.1f} h trained{stopped}{left}"
        )
        if run["evaluated_at"] is None:  # stopped before its first learning-curve evaluation
            lines.append(f"{head}; no learning-curve point yet")
        else:
            lines.append(f"{head}; distortion at iteration {run['evaluated_at']:,} (mean over seeds):")
        for row in run["by_beta"]:
            gap = row["test"] - row["train"]
            lowest = ""
            if row["lowest_at"] is not None:
                lowest = f"  lowest test {row['lowest_test']:8.2f} at {row['lowest_at']:,}"
            lines.append(
                f"  beta {row['beta']:<6g} train {row['train']:8.2f}  test {row['test']:8.2f}  "
                f"gap {gap:6.2f}{lowest}  ({row['seeds']} seed{'s' * (row['seeds'] != 1)})"
            )
        if run.get("u_shape") is not None:
            holds, numbers = run["u_shape"]
            lines.append(
                f"  test D {'is' if holds else 'is not'} U-shaped in beta (the ledger's test): minimum at "
                f"beta {numbers['beta at min']:g}, test D at the smallest beta "
                f"{numbers['rise to smallest beta']:.2f} nats above it, tol {numbers['tol']:.2f}"
            )
        if run.get("resume"):
            lines.append(f"  resume: {run['resume']}")
    return lines
