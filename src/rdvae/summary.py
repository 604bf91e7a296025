"""Per-beta summaries of a run: mean and spread over seeds of every metric, for one partition.

Only members with status ``ok`` count; diverged members are reported separately by the chapters.
The spread is the sample standard deviation over seeds (0 with a single seed), as the paper's error
bars (section 4.4).
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from rdvae.store import RunResults

METRICS = (
    "rate", "distortion", "elbo", "log_px", "mi", "marginal_kl",
    "memorisation_weight", "distance_to_optimal", "distance_to_input", "mi_exact", "marginal_kl_exact",
    "memorisation_weight_2", "memorisation_weight_3", "bce_to_optimal", "bce_to_input",
)  # fmt: skip


def by_beta(results: RunResults, partition: str) -> list[dict]:
    """One dict per beta (ascending): ``beta``, ``seeds`` and ``<metric>``, ``<metric>_std``."""
    rows = results.rows(partition, status="ok")
    out = []
    for beta in sorted({r["beta"] for r in rows}):
        group = [r for r in rows if r["beta"] == beta]
        entry = {"beta": beta, "seeds": len(group)}
        for metric in METRICS:
            entry |= mean_and_sd([r.get(metric) for r in group], metric)
        out.append(entry)
    return out


def mean_and_sd(values: list[float | None], metric: str) -> dict:
    """``{metric: mean, metric_std: sample sd}`` over the finite ``values`` (None and non-finite ones,
    e.g. a diverged member's, are left out): NaN mean with none, sd 0 with one."""
    finite = np.array([v for v in values if v is not None and math.isfinite(v)])
    return {
        metric: float(finite.mean()) if len(finite) else math.nan,
        f"{metric}_std": float(finite.std(ddof=1)) if len(finite) > 1 else 0.0,
    }


def column(summary: list[dict], metric: str) -> np.ndarray:
    return np.array([row[metric] for row in summary])


def at_beta(summary: list[dict], beta: float) -> dict | None:
    return next((row for row in summary if math.isclose(row["beta"], beta)), None)


def curve_values(
    curves: list[dict], partition: str, iteration: int, metric: str = "distortion"
) -> dict[float, list[float]]:
    """Per beta (ascending), ``metric`` of every member still on the learning curve of ``partition`` at
    ``iteration`` (diverged members stop being recorded)."""
    values: dict[float, list[float]] = defaultdict(list)
    for row in curves:
        if row["partition"] == partition and row["iteration"] == iteration:
            values[row["beta"]].append(row[metric])
    return {beta: values[beta] for beta in sorted(values)}


def curve_by_beta(
    curves: list[dict], partition: str, iteration: int, metric: str = "distortion"
) -> list[dict]:
    """:func:`by_beta`'s rows for one point of the learning curves: per beta (ascending) ``beta``,
    ``seeds`` and ``<metric>``, ``<metric>_std`` (mean and sample sd over the members recorded at
    ``iteration``), so the ledger's tests apply to a run part-way through its training.  The curves
    are evaluated on a fixed subset of each partition (``curve_examples``), the same at every
    iteration and beta, not on the whole partition as the final numbers are."""
    out = []
    for beta, values in curve_values(curves, partition, iteration, metric).items():
        seeds = sum(math.isfinite(v) for v in values)
        if seeds:
            out.append({"beta": beta, "seeds": seeds, **mean_and_sd(values, metric)})
    return out


def lowest_on_curve(
    curves: list[dict], partition: str = "test", metric: str = "distortion"
) -> dict[float, tuple[float, int]]:
    """Per beta, the lowest mean over seeds of ``metric`` on the learning curve of ``partition`` and the
    iteration it was at (the earliest, on ties): a run whose last point is well above it has begun to
    overfit."""
    lowest: dict[float, tuple[float, int]] = {}
    for iteration in sorted({row["iteration"] for row in curves}):
        for beta, values in curve_values(curves, partition, iteration, metric).items():
            mean = float(np.mean(values))
            if beta not in lowest or mean < lowest[beta][0]:
                lowest[beta] = (mean, iteration)
    return lowest


def rise_since_lowest(curves: list[dict], partition: str = "test", metric: str = "distortion") -> list[dict]:
    """Per beta (ascending), where the learning curve of ``partition`` bottomed out and how far it had
    climbed back by the last evaluation, all as means over seeds: ``beta``, ``lowest``, ``lowest at``
    (iteration), ``last``, ``last at`` and ``rise`` = last - lowest (0 when the last point is the lowest;
    a rise is overfitting since ``lowest at``)."""
    rows = [r for r in curves if r["partition"] == partition]
    if not rows:
        return []
    last_at = max(r["iteration"] for r in rows)
    last = {beta: float(np.mean(v)) for beta, v in curve_values(rows, partition, last_at, metric).items()}
    out = []
    for beta, (lowest, lowest_at) in sorted(lowest_on_curve(rows, partition, metric).items()):
        final = last.get(beta, math.nan)  # NaN: every member diverged before the last evaluation
        out.append(
            {"beta": beta, "lowest": lowest, "lowest at": lowest_at, "last": final, "last at": last_at,
             "rise": final - lowest}
        )  # fmt: skip
    return out


def late_change(
    results: RunResults, partition: str = "test", metric: str = "distortion", fraction: float = 0.2
) -> list[dict]:
    """Per beta, how ``metric`` moved over the last ``fraction`` of training on the learning curve of
    ``partition``: the mean over seeds of each member's change (negative = still falling when training
    stopped, positive = rising, i.e. overfitting), its sample sd over seeds and the number of seeds.
    Only members recorded at both ends count (a diverged member stops being recorded)."""
    rows = [r for r in results.curves if r["partition"] == partition]
    if not rows:
        return []
    last = max(r["iteration"] for r in rows)
    start = min((r["iteration"] for r in rows if r["iteration"] >= (1 - fraction) * last), default=last)
    ends = [r for r in rows if r["iteration"] in (start, last)]
    value = {(r["iteration"], r["beta"], r["seed"]): r[metric] for r in ends}
    out = []
    for beta in sorted({r["beta"] for r in rows}):
        seeds = sorted({seed for (_, b, seed) in value if b == beta})
        both = [s for s in seeds if (start, beta, s) in value and (last, beta, s) in value]
        changes = np.array([value[last, beta, s] - value[start, beta, s] for s in both])
        out.append(
            {
                "beta": beta,
                "from iteration": start,
                "to iteration": last,
                "change": float(changes.mean()) if len(changes) else math.nan,
                "change_std": float(changes.std(ddof=1)) if len(changes) > 1 else 0.0,
                "seeds": len(changes),
            }
        )
    return out
