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
            values = np.array(
                [r[metric] for r in group if r.get(metric) is not None and math.isfinite(r[metric])]
            )
            entry[metric] = float(values.mean()) if len(values) else math.nan
            entry[f"{metric}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        out.append(entry)
    return out


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


def late_change(
    results: RunResults, partition: str = "test", metric: str = "distortion", fraction: float = 0.2
) -> list[dict]:
    """Per beta, how ``metric`` moved over the last ``fraction`` of training (mean over seeds of the
    learning curve): negative = still falling when training stopped, positive = rising (overfitting)."""
    rows = [r for r in results.curves if r["partition"] == partition]
    if not rows:
        return []
    last = max(r["iteration"] for r in rows)
    start = min((r["iteration"] for r in rows if r["iteration"] >= (1 - fraction) * last), default=last)
    at = {i: curve_values(rows, partition, i, metric) for i in (start, last)}
    out = []
    for beta in sorted({r["beta"] for r in rows}):
        means = {i: np.mean(at[i].get(beta, [])) for i in (start, last)}
        out.append(
            {
                "beta": beta,
                "from iteration": start,
                "to iteration": last,
                "change": float(means[last] - means[start]),
            }
        )
    return out
