"""What training longer changed: every configuration stored at two budgets, its final evaluation at
both (chapter 14, "What the longer budget changed"; ``rdvae runs --budgets``).

:mod:`rdvae.twins` says whether a longer run repeats a shorter one's learning curve; this module says
what the extra iterations did to the numbers the verdicts read, the final evaluation
(``members.csv``).  At each β both budgets hold, over the seeds both hold,

    ΔD(β) = mean_s D(β, s; longer) − mean_s D(β, s; shorter),

on the test set and on the training set, beside how far the seeds are apart,

    spread(β) = max over the two budgets of (max_s D_test(β, s) − min_s D_test(β, s)).

A change of test D larger than the spread is larger than what a change of seed did to the same
number, so more likely the budget's doing than chance (with two seeds a rough yardstick, not a test).
Test D that rises with training while train D falls is overfitting (section 4.4, where early
stopping removes the 1-layer network's rise at small β); test D that falls says the shorter budget
had not converged.  With one seed in common
there is no spread.  A configuration stored at three budgets gives a row per consecutive pair.
Members that diverged (``status`` other than ``ok``) are left out of the means.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from rdvae import inventory, runs, store, twins

PerBeta = tuple[float, ...]  # one value per beta of BudgetChange.betas


@dataclass(frozen=True)
class BudgetChange:
    """One configuration's final evaluation at a shorter and a longer budget."""

    profile: str  # whose store holds both
    label: str  # the configuration, as the figures name it
    iterations: tuple[int, int]  # shorter, longer
    machines: tuple[str, str]  # what trained each budget (rdvae.inventory.machine), shorter first
    seeds: tuple[int, ...]  # the seeds both budgets hold
    betas: tuple[float, ...]  # the betas both budgets hold
    test: tuple[PerBeta, PerBeta]  # mean test D, shorter then longer
    train: tuple[PerBeta, PerBeta]  # mean train D, shorter then longer
    spread: tuple[float | None, ...]  # per beta; None with fewer than two seeds

    @property
    def test_change(self) -> PerBeta:
        """ΔD_test(β): longer minus shorter."""
        return tuple(long - short for short, long in zip(*self.test, strict=True))

    @property
    def train_change(self) -> PerBeta:
        """ΔD_train(β): longer minus shorter."""
        return tuple(long - short for short, long in zip(*self.train, strict=True))

    @property
    def beyond_seeds(self) -> tuple[float, ...]:
        """The betas at which test D moved by more than the seeds are apart."""
        return tuple(
            beta
            for beta, change, spread in zip(self.betas, self.test_change, self.spread, strict=True)
            if spread is not None and abs(change) > spread
        )

    def row(self) -> dict:
        """The configuration as one table row (chapter 14); per-beta values joined by " / "."""

        def per_beta(values, sign: str = "") -> str:
            return " / ".join("-" if v is None else f"{v:{sign}.2f}" for v in values)

        compared = sum(spread is not None for spread in self.spread)
        return {
            "configuration": self.label,
            "profile": self.profile,
            "iterations": " / ".join(f"{n:,}" for n in self.iterations),
            "machines": " / ".join(self.machines) if len(set(self.machines)) > 1 else self.machines[0],
            "seeds": ",".join(map(str, self.seeds)),
            "betas": " / ".join(f"{b:g}" for b in self.betas),
            "test D, shorter": per_beta(self.test[0]),
            "test D, longer": per_beta(self.test[1]),
            "test D change": per_beta(self.test_change, "+"),
            "train D change": per_beta(self.train_change, "+"),
            "seeds apart (test D)": per_beta(self.spread),
            "moved beyond seeds": f"{len(self.beyond_seeds)} of {compared}" if compared else "-",
        }


def budget_changes(profile: str, folder: str | Path | None = None) -> list[BudgetChange]:
    """Every configuration of ``profile``'s store (or ``folder``) stored at two budgets, seed shards
    merged (:func:`rdvae.inventory.stored_configurations`), in the inventory's order."""
    root = store.profile_store(profile) if folder is None else Path(folder)
    budgets = defaultdict(list)  # every field but iterations and seeds -> its stored configurations
    for stored in inventory.stored_configurations(profile, root):
        budgets[twins.configuration_key(stored.config)].append(stored)
    changes = []
    for group in budgets.values():
        for shorter, longer in pairwise(sorted(group, key=lambda stored: stored.config.iterations)):
            change = _change(profile, root, shorter, longer)
            if change is not None:
                changes.append(change)
    return changes


def summary(changes: list[BudgetChange]) -> str:
    """One line: how many configurations are stored at two budgets, and at how many of the betas
    where the seeds' spread is known the longer budget moved test D by more than it, up or down."""
    if not changes:
        return "no configuration is stored at two budgets"
    compared = sum(spread is not None for change in changes for spread in change.spread)
    moved = [
        delta
        for change in changes
        for beta, delta in zip(change.betas, change.test_change, strict=True)
        if beta in change.beyond_seeds
    ]
    rose = sum(delta > 0 for delta in moved)
    plural = "s" * (len(changes) != 1)
    return (
        f"{len(changes)} configuration{plural} stored at two budgets; the longer budget moved test D by "
        f"more than the seeds are apart at {len(moved)} of {compared} betas (up at {rose}, down at "
        f"{len(moved) - rose})"
    )


def _change(
    profile: str, root: Path, shorter: inventory.StoredConfiguration, longer: inventory.StoredConfiguration
) -> BudgetChange | None:
    """The two budgets' final evaluations compared, or None if they share no seed or no beta."""
    seeds = tuple(sorted(set(shorter.config.seeds) & set(longer.config.seeds)))
    betas = tuple(sorted(set(shorter.config.betas) & set(longer.config.betas)))
    if not seeds or not betas:
        return None
    members = [_members(root, stored) for stored in (shorter, longer)]

    def distortions(rows: list[dict], partition: str, beta: float) -> list[float]:
        return [
            r["distortion"]
            for r in rows
            if (r["partition"], r["beta"], r["status"]) == (partition, beta, "ok") and r["seed"] in seeds
        ]

    def means(partition: str) -> tuple[PerBeta, PerBeta]:
        short, long = ([_mean(distortions(rows, partition, b)) for b in betas] for rows in members)
        return tuple(short), tuple(long)

    def spread(beta: float) -> float | None:
        per_budget = [distortions(rows, "test", beta) for rows in members]
        return max((max(v) - min(v) for v in per_budget if len(v) > 1), default=None)

    return BudgetChange(
        profile,
        runs.label(runs.run_key(shorter.config, profile)),
        (shorter.config.iterations, longer.config.iterations),
        (shorter.machine, longer.machine),
        seeds,
        betas,
        means("test"),
        means("train"),
        tuple(spread(b) for b in betas),
    )


def _members(root: Path, stored: inventory.StoredConfiguration) -> list[dict]:
    """The ``members.csv`` rows of every folder of a stored configuration."""
    return [row for name in stored.folders for row in store.load_folder(root / name).members]


def _mean(values: list[float]) -> float:
    return math.fsum(values) / len(values) if values else math.nan
