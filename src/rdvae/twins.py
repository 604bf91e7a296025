"""Runs trained twice: a configuration stored at two budgets, each trained from scratch (chapter 14).

Training draws everything from each member's own generators and nothing in a step depends on the
number of iterations asked for, so a run trained for 100,000 iterations passes through the states of
its 50,000-iteration twin: on one machine, with the same settings, every learning-curve point the two
share (every ``eval_every`` iterations, test and training distortion and rate of each member) is
bit-identical.  On another CPU kind or thread count, or with denormal floats kept rather than flushed,
the kernels may round differently, and then the curves part; a run on a GPU draws its noise from CUDA
generators, which give other numbers than a CPU's for the same seed, so it parts from a CPU twin from
the start, as two seeds do.
This module finds such pairs in a store, seed by seed, and says how far they agree: whether the
longer run repeats the shorter one (so its extra iterations, not another experiment, are what moved
the verdicts), and how far a change of machine moved a curve compared with a change of seed.  A run
continued from its shorter twin's kept state (``extended_from``) shares that twin's curve by
construction and is left out.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

from rdvae import inventory, runs, store
from rdvae.config import RunConfig

CurvePoint = tuple[int, float, str]  # (iteration, beta, partition) of one seed's curve


@dataclass(frozen=True)
class CurveAgreement:
    """How one seed's learning curves in two runs compare on the points both hold."""

    points: int  # curve points both runs hold (iterations x betas x partitions)
    identical: int  # of them with bit-identical rate and distortion
    identical_through: int | None  # the last iteration up to which every shared point is identical
    largest_test_gap: float  # max |D_test(long) - D_test(short)| over the shared points
    largest_at: tuple[float, int] | None  # its (beta, iteration); None where the curves are identical


def curve_agreement(short: Iterable[dict], long: Iterable[dict], seed: int) -> CurveAgreement:
    """Compare seed ``seed``'s curve rows (``curves.csv`` rows: iteration, beta, seed, partition, rate,
    distortion) of two runs on the points both hold."""

    def points(rows: Iterable[dict]) -> dict[CurvePoint, tuple[float, float]]:
        return {
            (r["iteration"], r["beta"], r["partition"]): (r["rate"], r["distortion"])
            for r in rows
            if r["seed"] == seed
        }

    a, b = points(short), points(long)
    shared = sorted(set(a) & set(b))
    differing = [p for p in shared if a[p] != b[p]]
    first_difference = min((p[0] for p in differing), default=None)
    through = max((p[0] for p in shared if first_difference is None or p[0] < first_difference), default=None)
    gaps = {(p[1], p[0]): abs(b[p][1] - a[p][1]) for p in differing if p[2] == "test"}
    at = max(gaps, key=gaps.get) if gaps else None
    return CurveAgreement(len(shared), len(shared) - len(differing), through, gaps[at] if at else 0.0, at)


@dataclass(frozen=True)
class Twins:
    """One seed of one configuration, stored at two budgets, each trained from scratch."""

    profile: str  # whose store holds both runs
    label: str  # the configuration, as the figures name it
    seed: int
    runs: tuple[str, str]  # run ids, shorter first
    iterations: tuple[int, int]
    machines: tuple[str, str]
    agreement: CurveAgreement
    seed_spread: float | None  # the same stretch and beta, between seeds of the shorter budget (_seed_spread)

    def row(self) -> dict:
        """The pair as one table row (chapter 14)."""
        agree, at, spread = self.agreement, self.agreement.largest_at, self.seed_spread
        return {
            "configuration": self.label,
            "profile": self.profile,
            "seed": self.seed,
            "iterations": " / ".join(f"{n:,}" for n in self.iterations),
            "machines": " / ".join(self.machines) if len(set(self.machines)) > 1 else self.machines[0],
            "identical points": f"{agree.identical} of {agree.points}",
            "identical through": "-" if agree.identical_through is None else f"{agree.identical_through:,}",
            "largest test-D gap": round(agree.largest_test_gap, 2),
            "at (beta, iteration)": "-" if at is None else f"{at[0]:g}, {at[1]:,}",
            "seeds differ by, same beta and stretch": "-" if spread is None else round(spread, 2),
        }


def find_twins(profile: str, folder: str | Path | None = None) -> list[Twins]:
    """Every seed stored at two budgets of one configuration in ``profile``'s store (or ``folder``),
    each run trained from scratch, with how far their curves agree; by configuration, then seed."""
    found = store.stored_runs(store.profile_store(profile) if folder is None else folder)
    curves = {}  # run folder -> its curve rows, read once

    def curves_of(path: Path) -> list[dict]:
        if path not in curves:
            curves[path] = store.load_curves(path)
        return curves[path]

    by_configuration = defaultdict(list)  # every field but iterations and seeds -> its runs
    for run in found:
        by_configuration[configuration_key(run[1])].append(run)
    pairs = []
    for group in by_configuration.values():
        for run_a, run_b in combinations(group, 2):
            (short_path, short, short_prov), (long_path, long, long_prov) = sorted(
                [run_a, run_b], key=lambda run: run[1].iterations
            )
            if short.iterations == long.iterations or long_prov.get("extended_from") == short.run_id:
                continue
            siblings = [path for path, config, _ in group if config.iterations == short.iterations]
            for seed in sorted(set(short.seeds) & set(long.seeds)):
                agreement = curve_agreement(curves_of(short_path), curves_of(long_path), seed)
                pairs.append(
                    Twins(
                        profile,
                        runs.label(runs.run_key(short, profile)),
                        seed,
                        (short.run_id, long.run_id),
                        (short.iterations, long.iterations),
                        (trained_on(short_prov), trained_on(long_prov)),
                        agreement,
                        _seed_spread([row for path in siblings for row in curves_of(path)], agreement),
                    )
                )
    return sorted(pairs, key=lambda pair: (pair.label, pair.seed, pair.iterations))


def configuration_key(config: RunConfig) -> str:
    """A key equal for two configs that differ at most in ``iterations`` and ``seeds`` (as
    ``a.same_except(b, "iterations", "seeds")`` says), to group configs by in a dict."""
    fields = {name: value for name, value in config.to_json().items() if name not in ("iterations", "seeds")}
    return json.dumps(fields, sort_keys=True)


def trained_on(provenance: dict) -> str:
    """The machine a run trained on, and whether it kept denormal floats, which change a CPU run's
    numbers (``benchmarks/README.md``, "Denormals"; runs stored before the setting kept them)."""
    kept = provenance.get("device", "cpu") == "cpu" and not provenance.get("flush_denormal")
    return inventory.machine(provenance) + ", denormals kept" * kept


def _seed_spread(rows: list[dict], agreement: CurveAgreement) -> float | None:
    """The largest spread (max - min over seeds) of test distortion in the shorter budget's curve
    ``rows``, at the β of the largest gap, over the iterations after ``agreement``'s identical prefix:
    how far two seeds part over the stretch where the machine moved the curve.  None where the curves
    are identical or fewer than two seeds hold a point of the stretch."""
    if agreement.largest_at is None:
        return None
    beta, start = agreement.largest_at[0], agreement.identical_through
    by_iteration: dict[int, list[float]] = {}
    for r in rows:
        if r["partition"] == "test" and r["beta"] == beta and (start is None or r["iteration"] > start):
            by_iteration.setdefault(r["iteration"], []).append(r["distortion"])
    spreads = [max(values) - min(values) for values in by_iteration.values() if len(values) > 1]
    return max(spreads, default=None)
