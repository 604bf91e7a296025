"""How the ledger reads stored runs: the per-beta rows a claim compares, the tolerance two points
must differ by, and the shapes claims are stated in (monotone, U-shaped, still falling).

    tol(a, b) = max(1 nat, 2 sqrt(se_a^2 + se_b^2))

with se the standard error over seeds of each point (:mod:`rdvae.ledger`'s docstring says why).
"""

from __future__ import annotations

import math

import numpy as np

from rdvae import summary
from rdvae.store import RunResults, restrict_betas

Runs = dict[tuple, RunResults | None]
TOL_FLOOR = 1.0  # nats: the smallest difference the ledger reads as real
LATE_FRACTION = 0.2  # of training: the stretch over which a run still falling counts as still learning


class Undecidable(Exception):
    """The data cannot decide this claim (e.g. the beta grid lacks a value it refers to)."""


def on_shared_betas(runs: Runs, keys: tuple[tuple, ...]) -> Runs:
    """``runs`` with each of the runs ``keys`` names restricted to the betas all of them have
    (:func:`rdvae.store.restrict_betas`), so that a claim comparing runs compares like with like when
    one has a wider grid (:func:`rdvae.store.load_with_extra_betas`); the others as they are."""
    compared = {key: runs[key] for key in keys if isinstance(runs.get(key), RunResults)}
    if len(compared) < 2:
        return runs
    shared = set.intersection(*(set(r.config.betas) for r in compared.values()))
    wider = {key: r for key, r in compared.items() if set(r.config.betas) != shared}
    return {**runs, **{key: restrict_betas(r, tuple(sorted(shared))) for key, r in wider.items()}}


def beta_rows(runs: Runs, key: tuple, partition: str = "test") -> list[dict]:
    """The run ``key``'s per-beta means over seeds on ``partition`` (:func:`rdvae.summary.by_beta`),
    in ascending beta; :class:`Undecidable` with fewer than 3 betas, as no shape can be read then."""
    rows = summary.by_beta(runs[key], partition)
    if len(rows) < 3:
        raise Undecidable(f"{'/'.join(key)} has {len(rows)} beta values with finished members; need 3")
    return rows


def _beyond_noise_fall(row: dict) -> bool:
    """A :func:`rdvae.summary.late_change` row whose mean change is a fall beyond noise:
    change < -max(1 nat, 2 SE of the mean change over seeds)."""
    return row["change"] < -max(TOL_FLOOR, 2 * row["change_std"] / math.sqrt(max(row["seeds"], 1)))


def still_falling(results: RunResults, fraction: float = LATE_FRACTION) -> list[dict]:
    """The betas whose test D fell beyond noise over the last ``fraction`` of training, i.e. whose
    models were still improving when training stopped (:func:`_beyond_noise_fall`)."""
    return [
        row for row in summary.late_change(results, "test", "distortion", fraction) if _beyond_noise_fall(row)
    ]


def still_falling_text(runs: Runs, fraction: float = LATE_FRACTION) -> str:
    """One line naming each run whose test D was still falling (:func:`still_falling`) with its
    largest fall, e.g. "mlp3/default: up to 7.5 nats at beta 1 (3 of 5 betas)"; "" if none was."""
    parts = []
    for key, results in runs.items():
        late = summary.late_change(results, "test", "distortion", fraction)
        falling = [row for row in late if _beyond_noise_fall(row)]
        if falling:
            worst = min(falling, key=lambda row: row["change"])
            parts.append(
                f"{'/'.join(key)}: up to {-worst['change']:.1f} nats at beta {worst['beta']:g} "
                f"({len(falling)} of {len(late)} betas)"
            )
    if not parts:
        return ""
    return f"test D still falling over the last {fraction:.0%} of training: " + "; ".join(parts)


def standard_error(row: dict, metric: str = "distortion") -> float:
    return row[f"{metric}_std"] / math.sqrt(max(row["seeds"], 1))


def pair_tolerance(a: dict, b: dict, metric: str = "distortion") -> float:
    """tol(a, b) = max(1 nat, two standard errors of the difference of the two means)."""
    return max(TOL_FLOOR, 2 * math.hypot(standard_error(a, metric), standard_error(b, metric)))


def mean_difference_tolerance(a_rows: list[dict], b_rows: list[dict], metric: str = "distortion") -> float:
    """tol of the mean over n betas of a_i - b_i: max(1 nat, (2 / n) sqrt(sum_i se_a_i^2 + se_b_i^2)).

    Two standard errors of that mean, taking each beta's points as independent (each beta is its own
    trained model); one beta whose seeds disagree widens it by its share, not by its whole spread.
    """
    variance = sum(standard_error(a, metric) ** 2 + standard_error(b, metric) ** 2
                   for a, b in zip(a_rows, b_rows, strict=True))  # fmt: skip
    return max(TOL_FLOOR, 2 * math.sqrt(variance) / len(a_rows))


def steps_as_beta_decreases(rows: list[dict], metric: str = "distortion") -> list[dict]:
    """Each step from one beta to the next smaller one: the rise of ``metric`` and its tolerance."""
    ordered = sorted(rows, key=lambda r: -r["beta"])
    return [
        {
            "from": a["beta"],
            "to": b["beta"],
            "rise": b[metric] - a[metric],
            "tol": pair_tolerance(a, b, metric),
        }
        for a, b in zip(ordered, ordered[1:], strict=False)
    ]


def monotone_as_beta_decreases(rows: list[dict], metric: str = "distortion") -> tuple[bool, dict]:
    """Whether no step rises by more than its tolerance, and the step closest to breaking that."""
    steps = steps_as_beta_decreases(rows, metric)
    worst = max(steps, key=lambda s: s["rise"] - s["tol"])
    return worst["rise"] <= worst["tol"], {k: rounded(v, 3) for k, v in worst.items()}


def worst_rise_as_beta_decreases(rows: list[dict], metric: str = "distortion") -> float:
    """Largest increase of ``metric`` from one beta to the next smaller one (negative: all decrease)."""
    return max(s["rise"] for s in steps_as_beta_decreases(rows, metric))


def interior_minimum_rise(rows: list[dict], metric: str = "distortion") -> tuple[float, float]:
    """(beta at the minimum, rise from the minimum to the value at the smallest beta)."""
    values = summary.column(rows, metric)  # rows are in ascending beta
    i = int(np.argmin(values))
    return rows[i]["beta"], float(values[0] - values[i])


def u_shape(rows: list[dict], metric: str = "distortion") -> tuple[bool, dict]:
    """Interior minimum with the smallest beta above it by more than tol(minimum, smallest beta)."""
    beta_min, rise = interior_minimum_rise(rows, metric)
    tol = pair_tolerance(rows[0], summary.at_beta(rows, beta_min), metric)
    holds = beta_min > rows[0]["beta"] and rise > tol
    return holds, {"beta at min": beta_min, "rise to smallest beta": rounded(rise), "tol": rounded(tol)}


def u_shape_over_training(results: RunResults, metric: str = "distortion") -> list[dict]:
    """:func:`u_shape` of the test curve at every evaluated iteration of the learning curves (from
    :func:`rdvae.summary.curve_by_beta`; the untrained iteration 0 and points with fewer than 3 betas
    are skipped): when, in training, the U-shape the paper reports for the 1-layer network on
    CV(16k/147k) appears.
    ``[{"iteration", "U-shaped", "beta at min", "rise to smallest beta", "tol"}]``."""
    out = []
    for iteration in sorted({r["iteration"] for r in results.curves if r["partition"] == "test"} - {0}):
        rows = summary.curve_by_beta(results.curves, "test", iteration, metric)
        if len(rows) >= 3:
            holds, numbers = u_shape(rows, metric)
            out.append({"iteration": iteration, "U-shaped": holds, **numbers})
    return out


def u_shape_holds_from(over_training: list[dict]) -> int | None:
    """The first iteration from which :func:`u_shape_over_training` finds the U-shape at every later
    evaluation too, or None if it does not hold at the last one."""
    since = None
    for row in over_training:
        since = (since or row["iteration"]) if row["U-shaped"] else None
    return since


def row_at(rows: list[dict], beta: float) -> dict:
    """The row of ``beta``; :class:`Undecidable` if the grid lacks it."""
    row = summary.at_beta(rows, beta)
    if row is None:
        raise Undecidable(f"the beta grid has no beta = {beta:g}")
    return row


def rounded(x: float, digits: int = 2) -> float:
    """A number as a verdict reports it."""
    return round(float(x), digits)


def gaps(results: RunResults, metric: str = "distortion", sign: float = 1.0) -> list[dict]:
    """Per beta, the train-test gap sign * (test - train) of ``metric``, mean and sd over seeds."""
    rows = {(r["beta"], r["seed"], r["partition"]): r[metric] for r in results.rows(status="ok")}
    out = []
    for beta in sorted({b for b, _, _ in rows}):
        per_seed = [
            sign * (rows[(beta, s, "test")] - rows[(beta, s, "train")])
            for s in results.config.seeds
            if (beta, s, "test") in rows
            and (beta, s, "train") in rows
            and rows[(beta, s, "test")] is not None
        ]
        if per_seed:
            sd = float(np.std(per_seed, ddof=1)) if len(per_seed) > 1 else 0.0
            out.append({"beta": beta, "seeds": len(per_seed), "gap": float(np.mean(per_seed)), "gap_std": sd})
    return out
