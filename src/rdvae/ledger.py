"""The replication ledger: every checkable claim of SPEC (e) as a function of stored results.

Each claim returns a verdict, "reproduced", "not reproduced" or "inconclusive at this profile", and
the numbers behind it; no verdict is written by hand.  A claim is inconclusive when a run it needs is
missing, when the beta grid lacks a value it refers to, or when the profile is too small to decide
(``smoke``).  Given :class:`rdvae.runs.Evidence`, a claim is decided at the most-trained profile that
holds every run it compares, and the verdict records that budget and whether it is below the paper's
(a "not reproduced" at 6k iterations is not the paper being wrong).

Uncertainty: every point is a mean over seeds with sample sd s and standard error s / sqrt(n).  Two
points a and b differ beyond noise when their difference exceeds

    tol(a, b) = max(1 nat, 2 sqrt(se_a^2 + se_b^2))

(two standard errors of the difference, never below 1 nat; with one seed it is 1 nat).  Hence:

- "decreases monotonically as beta decreases": no step from one beta to the next smaller one rises by
  more than tol of those two points;
- "U-shaped / interior minimum": the minimum is not at the smallest beta, and the value at the
  smallest beta exceeds the minimum by more than tol of those two points.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from rdvae import summary
from rdvae.config import OBJECTIVES, PAPER_BATCH_SIZE, PAPER_ITERATIONS, PAPER_SEEDS
from rdvae.profiles import get_profile
from rdvae.runs import OBJECTIVE_KEYS, Evidence, Tier, below_paper, epochs, tier_name, tier_order
from rdvae.store import RunResults, TableResults

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive at this profile"
Runs = dict[tuple, RunResults | None]
TOL_FLOOR = 1.0  # nats: the smallest difference the ledger reads as real
LATE_FRACTION = 0.2  # of training: the stretch over which a run still falling counts as still learning
PAPER_BUDGET = f"{PAPER_ITERATIONS:,} iterations x {len(PAPER_SEEDS)} seeds"


class Undecidable(Exception):
    """The data cannot decide this claim (e.g. the beta grid lacks a value it refers to)."""


@dataclass(frozen=True)
class Verdict:
    claim: str
    figure: str
    statement: str
    threshold: str
    status: str
    numbers: dict = field(default_factory=dict)
    note: str = ""
    decided_at: str = ""  # the profile whose runs decided it
    budget: str = ""  # their iterations and seeds
    below_paper: bool = False  # trained less than the paper's protocol
    still_falling: str = ""  # which of its runs' test D was still falling when training stopped

    @property
    def headline(self) -> str:
        """The status with the budget that decided it, e.g. "not reproduced at 6,000 iterations"."""
        if self.status == INCONCLUSIVE or not self.budget:
            return self.status
        qualifier = f" (paper: {PAPER_BUDGET})" if self.below_paper else ""
        return f"{self.status} at {self.budget}{qualifier}"


@dataclass(frozen=True)
class Claim:
    id: str
    figure: str
    statement: str
    threshold: str
    needs: tuple[tuple, ...]
    check: Callable[[Runs], tuple[bool, dict]]

    def evaluate(self, runs: Runs | Evidence, profile: str) -> Verdict:
        """Decide on ``runs`` at ``profile``; on :class:`Evidence`, at the most-trained tier (profile
        and iterations) that holds every run this claim needs."""
        if isinstance(runs, Evidence):
            holding = self.budgets_holding(runs)
            if holding:
                return self._decide(runs.at(holding[0]), holding[0][0])
            stored = {
                "/".join(k): [tier_name(t) for t in tier_order(runs.stored.get(k, {}))] for k in self.needs
            }
            if all(stored.values()):  # each run exists, but never all at one budget
                note = f"its runs are stored only at different budgets ({stored}); they are not compared"
                return Verdict(**self._base(), status=INCONCLUSIVE, note=note)
            profile = runs.profile
        missing = [key for key in self.needs if runs.get(key) is None]
        if missing:
            names = ", ".join("/".join(k) for k in missing)
            return Verdict(**self._base(), status=INCONCLUSIVE, note=f"not run at profile {profile}: {names}")
        return self._decide(runs, profile)

    def budgets_holding(self, evidence: Evidence) -> list[Tier]:
        """The tiers of ``evidence`` (most-trained first) that hold every run this claim compares."""
        return [t for t in evidence.tiers if all(evidence.at(t).get(key) is not None for key in self.needs)]

    def evaluate_at_every_budget(self, evidence: Evidence) -> dict[Tier, Verdict]:
        """This claim's verdict at each of :meth:`budgets_holding`; the first is :meth:`evaluate`'s."""
        return {tier: self._decide(evidence.at(tier), tier[0]) for tier in self.budgets_holding(evidence)}

    def _base(self) -> dict:
        return dict(claim=self.id, figure=self.figure, statement=self.statement, threshold=self.threshold)

    def _decide(self, runs: Runs, profile: str) -> Verdict:
        used = [runs[key] for key in self.needs]
        if all(isinstance(r, TableResults) for r in used):  # a theory chapter's experiment
            budget = dict(decided_at=profile, budget="; ".join(t.describe() for t in used))
        else:
            iterations = sorted({r.config.iterations for r in used})
            seeds = sorted({len(r.config.seeds) for r in used})
            batches = sorted({r.config.batch_size for r in used} - {PAPER_BATCH_SIZE})
            at_batch = f" at batch {'/'.join(map(str, batches))}" if batches else ""
            budget = dict(
                decided_at=profile,
                budget=f"{'/'.join(f'{i:,}' for i in iterations)} iterations{at_batch} x {'/'.join(map(str, seeds))} seeds",
                below_paper=any(below_paper(r) for r in used),
                still_falling=still_falling_text(dict(zip(self.needs, used, strict=True))),
            )
        try:
            holds, numbers = self.check(runs)
        except Undecidable as reason:
            return Verdict(**self._base(), status=INCONCLUSIVE, note=str(reason), **budget)
        if not get_profile(profile).decides_claims:
            return Verdict(**self._base(), status=INCONCLUSIVE, numbers=numbers, **budget,
                           note=f"profile {profile} is too small to decide any claim")  # fmt: skip
        return Verdict(
            **self._base(), status=REPRODUCED if holds else NOT_REPRODUCED, numbers=numbers, **budget
        )


# --------------------------------------------------------------------------------------- helpers
def _rows(runs: Runs, key: tuple, partition: str = "test") -> list[dict]:
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
    return worst["rise"] <= worst["tol"], {k: _r(v, 3) for k, v in worst.items()}


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
    return holds, {"beta at min": beta_min, "rise to smallest beta": _r(rise), "tol": _r(tol)}


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


def _at(rows: list[dict], beta: float) -> dict:
    row = summary.at_beta(rows, beta)
    if row is None:
        raise Undecidable(f"the beta grid has no beta = {beta:g}")
    return row


def _r(x: float, digits: int = 2) -> float:
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


# ----------------------------------------------------------------------------------- the claims
def _f3a(runs):
    numbers, holds = {}, True
    for arch in ("mlp1", "mlp3"):
        train, test = _rows(runs, ("default", arch), "train"), _rows(runs, ("default", arch), "test")
        gap = max(abs(a["distortion"] - b["distortion"]) for a, b in zip(test, train, strict=True))
        spread = np.ptp(summary.column(train, "distortion"))
        limit = max(2.0, 0.1 * spread)
        numbers |= {f"{arch} max |D_test - D_train|": _r(gap), f"{arch} limit": _r(limit)}
        holds &= gap <= limit
    return holds, numbers


def _f3b(runs):
    one, three = _rows(runs, ("default", "mlp1")), _rows(runs, ("default", "mlp3"))
    betas = [r["beta"] for r in one if summary.at_beta(three, r["beta"])]
    d = [summary.at_beta(three, b)["distortion"] - summary.at_beta(one, b)["distortion"] for b in betas]
    r = [summary.at_beta(three, b)["rate"] - summary.at_beta(one, b)["rate"] for b in betas]
    # the sign decides; the tolerance of each D difference is reported, so that a difference inside
    # the noise (a tie at that beta) reads as such
    tol = [pair_tolerance(summary.at_beta(three, b), summary.at_beta(one, b)) for b in betas]
    ties = [b for b, x, t in zip(betas, d, tol, strict=True) if abs(x) <= t]
    numbers = {"betas": betas, "D3 - D1": [_r(x) for x in d], "R3 - R1": [_r(x) for x in r],
               "tol of D3 - D1": [_r(x) for x in tol], "betas where D3 - D1 is inside tol": ties}  # fmt: skip
    return all(x < 0 for x in d) and all(x < 0 for x in r), numbers


def _f3c(runs):
    train, test = _rows(runs, ("cv-0.1", "mlp1"), "train"), _rows(runs, ("cv-0.1", "mlp1"), "test")
    train_monotone, worst = monotone_as_beta_decreases(train)
    test_u, u = u_shape(test)
    numbers = {"train: worst step as beta decreases (rise, tol)": (worst["rise"], worst["tol"]),
               **{f"test: {k}": v for k, v in u.items()}}  # fmt: skip
    return train_monotone and test_u, numbers


def _f3d(runs):
    results = runs[("cv-0.1", "mlp3")]
    test = _rows(runs, ("cv-0.1", "mlp3"))
    below_one = [r for r in test if r["beta"] <= 1.0]
    if len(below_one) < 2:
        raise Undecidable("fewer than two betas <= 1 in the grid")
    monotone, worst = monotone_as_beta_decreases(below_one)
    d_gaps, p_gaps = gaps(results, "distortion"), gaps(results, "log_px", sign=-1.0)  # train log p - test
    peak = max(d_gaps, key=lambda g: g["gap"])
    smallest_near = {}
    for name, rows in (("D", d_gaps), ("log p", p_gaps)):
        low, at = min(rows, key=lambda g: g["gap"]), _at(rows, 0.1)
        smallest_near[name] = at["gap"] - low["gap"] <= pair_tolerance(at, low, "gap")
    numbers = {"test, beta <= 1: worst step (rise, tol)": (worst["rise"], worst["tol"]),
               "gap D_test - D_train by beta": {g["beta"]: _r(g["gap"]) for g in d_gaps},
               "gap log p_train - log p_test by beta": {g["beta"]: _r(g["gap"]) for g in p_gaps},
               "beta with the largest D gap": peak["beta"],
               "gap at 0.1 within tol of the smallest (D, log p)": tuple(smallest_near.values())}  # fmt: skip
    return monotone and peak["beta"] >= 1.0 and all(smallest_near.values()), numbers


def _image_distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(np.asarray(a, dtype=np.float64) - b))


def _f3e(runs):
    results = runs[("cv-0.1", "mlp3")]
    test = _rows(runs, ("cv-0.1", "mlp3"))
    _at(test, 0.1)
    best = max(test, key=lambda r: r["elbo"])["beta"]
    recon = results.reconstructions
    seed = recon["seeds"].min()
    betas = sorted(set(recon["betas"].tolist()))

    def closer_to_neighbour(beta):
        i = np.flatnonzero(np.isclose(recon["betas"], beta) & (recon["seeds"] == seed))[0]
        to_test = _image_distance(recon["reconstructions"][i], recon["test_image"])
        to_neighbour = _image_distance(recon["reconstructions"][i], recon["neighbour_image"])
        return to_neighbour < to_test, _r(to_test), _r(to_neighbour)

    large, small = closer_to_neighbour(betas[-1]), closer_to_neighbour(betas[0])
    numbers = {"beta with max test ELBO": best, "test ELBO by beta": {r["beta"]: _r(r["elbo"]) for r in test},
               f"beta={betas[-1]:g}: recon-to-test, recon-to-neighbour": large[1:],
               f"beta={betas[0]:g}: recon-to-test, recon-to-neighbour": small[1:]}  # fmt: skip
    return math.isclose(best, 0.1) and large[0] and not small[0], numbers


CV_SIZES = ("cv-0.35", "cv-0.2", "cv-0.1", "cv-0.05")  # 57k, 33k, 16k, 8k training images
CD_SIZES = ("cd-0.7", "cd-0.4", "cd-0.2", "cd-0.1")


def _u_depth(rows: list[dict]) -> tuple[float, float]:
    """(U-depth = D at the smallest beta minus the minimum D, its standard error)."""
    beta_min, depth = interior_minimum_rise(rows)
    return depth, math.hypot(standard_error(rows[0]), standard_error(summary.at_beta(rows, beta_min)))


def _f4a(runs):
    differences, errors = [], []
    for split in CV_SIZES:
        (u1, e1), (u3, e3) = (_u_depth(_rows(runs, (split, arch))) for arch in ("mlp1", "mlp3"))
        differences.append(u1 - u3)
        errors.append(math.hypot(e1, e3))
    margin = max(TOL_FLOOR, 2 * math.hypot(errors[0], errors[-1]))
    numbers = {"U-depth(1-layer) - U-depth(3-layer), N large to small": [_r(x) for x in differences],
               "growth from 57k to 8k": _r(differences[-1] - differences[0]), "margin": _r(margin),
               **_epochs_by_size(runs, CV_SIZES, "mlp1")}  # fmt: skip
    never_falls = bool(np.all(np.diff(differences) >= -TOL_FLOOR))
    return never_falls and differences[-1] - differences[0] > margin, numbers


def _epochs_by_size(runs, splits_: Iterable[str], arch: str) -> dict:
    """The passes over each training set the compared runs made: at a fixed number of iterations a
    smaller set is seen more often, which a comparison across sizes must be read against."""
    return {"epochs by size, large to small N": [round(epochs(runs[(split, arch)])) for split in splits_]}


def _spread_across(runs, splits_: Iterable[str], arch: str) -> tuple[float, float, float]:
    """Largest range of D_test across the splits at one beta, the mean D, and the noise allowance:
    two standard errors of a difference of two points at the beta with the largest standard error."""
    curves = [_rows(runs, (split, arch)) for split in splits_]
    betas = [r["beta"] for r in curves[0]]
    spreads = [np.ptp([summary.at_beta(c, b)["distortion"] for c in curves]) for b in betas]
    mean_d = np.mean([r["distortion"] for c in curves for r in c])
    noise = 2 * math.sqrt(2) * max(standard_error(r) for c in curves for r in c)
    return float(max(spreads)), float(mean_d), noise


def _f4b(runs):
    spread, mean_d, noise = _spread_across(runs, CD_SIZES, "mlp3")
    limit = max(2.0, 0.02 * mean_d, noise)
    numbers = {"max spread of D_test across sizes": _r(spread), "limit": _r(limit),
               **_epochs_by_size(runs, CD_SIZES, "mlp3")}  # fmt: skip
    return spread <= limit, numbers


def _f4c(runs):
    curves = {split: _rows(runs, (split, "mlp1")) for split in CD_SIZES}
    shapes = {split: u_shape(rows) for split, rows in curves.items()}
    spread, mean_d, _ = _spread_across(runs, CD_SIZES, "mlp1")
    limit = max(3.0, 0.05 * mean_d)
    best = {split: float(np.min(summary.column(rows, "distortion"))) for split, rows in curves.items()}
    improves = best[CD_SIZES[-1]] < best[CD_SIZES[0]]
    numbers = {"(beta at min, rise, tol) by size": {k: (u["beta at min"], u["rise to smallest beta"], u["tol"]) for k, (_, u) in shapes.items()},
               "max spread across sizes": _r(spread), "limit": _r(limit),
               "min D_test by size, large to small N": [_r(best[s]) for s in CD_SIZES],
               **_epochs_by_size(runs, CD_SIZES, "mlp1")}  # fmt: skip
    return all(ok for ok, _ in shapes.values()) and spread <= limit and improves, numbers


def _f5(runs):
    numbers, holds = {}, True
    for arch in ("mlp1", "mlp3"):
        board, sparse, dense = (_rows(runs, (s, arch)) for s in ("checkerboard", "cv-0.1", "default"))
        d_board = summary.column(board, "distortion")
        to_sparse = np.mean(np.abs(d_board - summary.column(sparse, "distortion")))
        worse_than_dense = np.mean(d_board - summary.column(dense, "distortion"))
        to_dense = np.mean(np.abs(d_board - summary.column(dense, "distortion")))
        margin = max(pair_tolerance(a, b) for a, b in zip(board, dense, strict=True))
        numbers |= {
            f"{arch}: mean |D_cb - D_cv16k|": _r(to_sparse),
            f"{arch}: mean |D_cb - D_cv82k|": _r(to_dense),
            f"{arch}: mean D_cb - D_cv82k (margin)": (_r(worse_than_dense), _r(margin)),
        }
        holds &= to_sparse < to_dense and worse_than_dense > margin
    return holds, numbers


def _f6a(runs):
    monotone, worst = monotone_as_beta_decreases(_rows(runs, ("cv-0.1", "cnn3")))
    return monotone, {"worst step as beta decreases (from, to, rise, tol)": tuple(worst.values())}


def _f6b(runs):
    test = _rows(runs, ("cv-0.1", "cnn1"))
    rise = worst_rise_as_beta_decreases(test)
    limit = max(3.0, 0.01 * np.mean(summary.column(test, "distortion")))
    return rise <= limit, {"worst rise as beta decreases": _r(rise), "limit": _r(limit)}


def _information(runs, arch) -> tuple[list[dict], float, str, str]:
    """Training-set rows, log N_train, and the I and KL columns: the exact aggregate-posterior values
    when every row has them, else the minibatch estimator's (biased upward in I, SPEC d.4)."""
    results = runs[("cv-0.1", arch)]
    rows = _rows(runs, ("cv-0.1", arch), "train")
    exact = all(math.isfinite(r["mi_exact"]) for r in rows)
    mi, kl = ("mi_exact", "marginal_kl_exact") if exact else ("mi", "marginal_kl")
    return rows, math.log(results.config.partition_sizes()["train"]), mi, kl


def _estimator_note(numbers: dict, columns: set[str]) -> None:
    numbers["estimator"] = (
        "exact aggregate posterior" if columns == {"mi_exact"} else
        "minibatch (biased upward)" if columns == {"mi"} else "exact for some depths, minibatch for others"
    )  # fmt: skip


def _f8a(runs):
    numbers, holds, used = {}, True, set()
    for arch in ("mlp1", "mlp3"):
        rows, _, mi_col, _ = _information(runs, arch)
        used.add(mi_col)
        above = [r for r in rows if r["beta"] >= 1.0]
        if len(above) < 2:
            raise Undecidable("fewer than two betas >= 1 in the grid")
        mi = summary.column(above, mi_col)
        numbers[f"{arch}: I by beta >= 1"] = {r["beta"]: _r(r[mi_col]) for r in above}
        holds &= bool(np.all(np.diff(mi) <= 0.1)) and mi[-1] < mi[0] - 0.5
    _estimator_note(numbers, used)
    return holds, numbers


def _f8b(runs):
    numbers, holds, used = {}, True, set()
    for arch in ("mlp1", "mlp3"):
        rows, log_n, mi_col, _ = _information(runs, arch)
        used.add(mi_col)
        below = [r for r in rows if r["beta"] < 1.0]
        numbers[f"{arch}: log N - I by beta < 1"] = {r["beta"]: _r(log_n - r[mi_col], 3) for r in below}
        holds &= all(log_n - r[mi_col] <= 0.25 for r in below)
    _estimator_note(numbers, used)
    return holds, numbers


def _f8c(runs):
    numbers, holds, used = {}, True, set()
    for arch in ("mlp1", "mlp3"):
        rows, _, mi_col, kl_col = _information(runs, arch)
        used.add(mi_col)
        kl_small_beta = rows[0][kl_col]
        above = [r[kl_col] for r in rows if r["beta"] > 1.0]
        below = [r for r in rows if r["beta"] <= 1.0]
        numbers[f"{arch}: KL by beta"] = {r["beta"]: _r(r[kl_col]) for r in rows}
        holds &= bool(above) and max(above) <= 0.1 * kl_small_beta and -worst_fall(below, kl_col) <= 0.5
    _estimator_note(numbers, used)
    return holds, numbers


def worst_fall(rows: list[dict], metric: str = "marginal_kl") -> float:
    """Most negative change of ``metric`` from one beta to the next smaller one (0 if none falls)."""
    values = summary.column(sorted(rows, key=lambda r: -r["beta"]), metric)
    return float(min(0.0, np.min(np.diff(values)))) if len(values) > 1 else 0.0


DOMINATED = 0.5  # a largest weight above this: x* is mostly one training image (more than all others)


def _a1(runs):
    test = _rows(runs, ("cv-0.1", "mlp3"))
    if not all(math.isfinite(r["bce_to_optimal"]) for r in test):
        raise Undecidable(
            "this run predates the BCE / top-3-weight diagnostic (SPEC d.6); retrain it to decide A1"
        )
    large, small = test[-1], test[0]
    numbers = {f"beta={r['beta']:g}: BCE(x*, x_hat), BCE(x, x_hat), top-3 weights": (
        _r(r["bce_to_optimal"]), _r(r["bce_to_input"]),
        tuple(_r(r[c], 3) for c in ("memorisation_weight", "memorisation_weight_2", "memorisation_weight_3")))
        for r in test}  # fmt: skip
    memorises_large = (
        large["bce_to_optimal"] < large["bce_to_input"] and large["memorisation_weight"] > DOMINATED
    )
    return memorises_large and small["bce_to_input"] < small["bce_to_optimal"], numbers


def _a3(runs):
    """Early stopping must *remove* a U-shape: the run without it has to show one for a verdict."""
    plain_u, u = u_shape(_rows(runs, ("cv-0.1", "mlp1")))
    if not plain_u:
        raise Undecidable(
            f"without early stopping the test curve already has no U-shape (rise to the smallest beta "
            f"{u['rise to smallest beta']:.2f}, tol {u['tol']:.2f} nats, minimum at beta = {u['beta at min']:g}), "
            "so there is nothing for early stopping to remove"
        )
    monotone, worst = monotone_as_beta_decreases(_rows(runs, ("cv-0.1", "mlp1", "early-stopping")))
    numbers = {"without early stopping: rise to the smallest beta, tol": (u["rise to smallest beta"], u["tol"]),
               "with early stopping: worst step (from, to, rise, tol)": tuple(worst.values())}  # fmt: skip
    return monotone, numbers


def _a4(runs):
    test = _rows(runs, ("cv-0.1", "mlp3"))
    _at(test, 0.1)
    best = max(test, key=lambda r: r["log_px"])["beta"]
    return math.isclose(best, 0.1), {"beta with max test log p(x)": best,
                                     "test log p(x) by beta": {r["beta"]: _r(r["log_px"]) for r in test}}  # fmt: skip


CLOSE_SHARE = 0.05  # "stays close": within this share of the beta-VAE's test D (or tol, if larger)


def _a8(runs):
    """Appendix A-8 (SPEC d.5): at beta >= 1, dropping the marginal KL improves test D and the gap;
    dropping the MI changes little.  All three objectives trained alike (batch 512, same epochs)."""
    test = {name: {r["beta"]: r for r in _rows(runs, key)} for name, key in OBJECTIVE_KEYS.items()}
    gap = {name: {g["beta"]: g for g in gaps(runs[key])} for name, key in OBJECTIVE_KEYS.items()}
    full, no_mi, no_kl = OBJECTIVES
    large = sorted(b for b in test[full] if b >= 1 and all(b in t for t in test.values()))
    if not large:
        raise Undecidable("the beta grid has no beta >= 1 shared by the three runs")

    lower_d, smaller_gap, mi_close, numbers = [], [], [], {}
    for b in large:
        d = {name: test[name][b]["distortion"] for name in OBJECTIVES}
        close = max(pair_tolerance(test[full][b], test[no_mi][b]), CLOSE_SHARE * d[full])
        tol = pair_tolerance(test[full][b], test[no_kl][b])
        gap_tol = pair_tolerance(gap[full][b], gap[no_kl][b], "gap")
        lower_d.append(d[full] - d[no_kl] > tol)
        smaller_gap.append(gap[full][b]["gap"] - gap[no_kl][b]["gap"] > gap_tol)
        mi_close.append(abs(d[no_mi] - d[full]) <= close)
        numbers[f"beta={b:g}: test D (beta-VAE, MI removed, marginal KL removed; tol)"] = (
            *(_r(v) for v in d.values()), _r(tol))  # fmt: skip
        numbers[f"beta={b:g}: gap (beta-VAE, marginal KL removed, tol); MI-removed limit"] = (
            _r(gap[full][b]["gap"]), _r(gap[no_kl][b]["gap"]), _r(gap_tol), _r(close))  # fmt: skip
    return all(lower_d) and all(smaller_gap) and all(mi_close), numbers


MONOTONE = "no step to the next smaller beta rises by more than tol of its two points (module doc)"
U_SHAPE = "minimum not at the smallest beta, which exceeds it by more than tol of the two points"
CLAIMS = {
    c.id: c
    for c in [
        Claim("F3a", "Figure 3", "On CV(82k/82k) train and test RD curves nearly coincide, for both depths",
              "max over beta of |D_test - D_train| <= max(2 nats, 10% of the train D range)",
              (("default", "mlp1"), ("default", "mlp3")), _f3a),
        Claim("F3b", "Figure 3", "On CV(82k/82k) the 3-layer curve lies below-left of the 1-layer curve: lower D and lower R at each beta",
              "test D and test R of the 3-layer network lower at every beta",
              (("default", "mlp1"), ("default", "mlp3")), _f3b),
        Claim("F3c", "Figure 3", "On CV(16k/147k), 1-layer: D_train falls monotonically as beta falls; D_test is U-shaped",
              f"train: {MONOTONE}; test: {U_SHAPE}", (("cv-0.1", "mlp1"),), _f3c),
        Claim("F3d", "Figure 3", "On CV(16k/147k), 3-layer: D_test falls as beta falls below 1; the generalisation gap is largest at large beta and smallest near beta = 0.1 (in D and in log p)",
              f"test, beta <= 1: {MONOTONE}; D_test - D_train largest at a beta >= 1; at beta = 0.1 the D gap and the log p gap are within tol of their smallest",
              (("cv-0.1", "mlp3"),), _f3d),
        Claim("F3e", "Figure 3", "On CV(16k/147k), 3-layer: test ELBO peaks at beta = 0.1; at large beta the hard example is reconstructed as a training neighbour, not at small beta",
              "argmax of test ELBO over the grid is 0.1; the first seed's reconstruction is nearer (l2) the nearest training image than the test image at the largest beta, and the reverse at the smallest",
              (("cv-0.1", "mlp3"),), _f3e),
        Claim("F4a", "Figure 4", "In CV, the 1-layer/3-layer difference grows as N_train decreases",
              "U-depth (D at smallest beta minus min D) of 1-layer minus that of 3-layer never falls by more than 1 nat from 57k to 8k, and grows by more than max(1 nat, 2 standard errors)",
              tuple((s, a) for s in CV_SIZES for a in ("mlp1", "mlp3")), _f4a),
        Claim("F4b", "Figure 4", "In CD, 3-layer test curves for the four sizes are virtually indistinguishable",
              "at every beta, D_test varies across sizes by at most max(2 nats, 2% of mean D, 2 standard errors of a difference)",
              tuple((s, "mlp3") for s in CD_SIZES), _f4b),
        Claim("F4c", "Figure 4", "In CD, 1-layer curves keep an interior minimum, depend only weakly on N_train, and improve slightly as N_train decreases",
              f"every size: {U_SHAPE}; spread across sizes at most max(3 nats, 5% of mean D); min D_test at 8k below min D_test at 57k",
              tuple((s, "mlp1") for s in CD_SIZES), _f4c),
        Claim("F5", "Figure 5", "The Checkerboard test curve is close to CV(16k/147k) and clearly worse than CV(82k/82k)",
              "mean over beta of |D_cb - D_cv16k| < mean |D_cb - D_cv82k|, and mean (D_cb - D_cv82k) above the largest tol of those pairs; test set, both depths",
              tuple((s, a) for s in ("checkerboard", "cv-0.1", "default") for a in ("mlp1", "mlp3")), _f5),
        Claim("F6a", "Figure 6", "On CV(16k/147k) the 3-layer CNN's D_test falls monotonically as beta falls",
              MONOTONE, (("cv-0.1", "cnn3"),), _f6a),
        Claim("F6b", "Figure 6", "On CV(16k/147k) the 1-layer CNN shows at most a small non-monotonicity",
              "largest rise of D_test as beta decreases <= max(3 nats, 1% of mean D)", (("cv-0.1", "cnn1"),), _f6b),
        Claim("F8a", "Figure 8", "I(x;z) decreases as beta increases above 1 (training set, both depths)",
              "I never rises by more than 0.1 nats from one beta >= 1 to the next larger, and falls by > 0.5 nats overall (exact aggregate posterior where stored)",
              (("cv-0.1", "mlp1"), ("cv-0.1", "mlp3")), _f8a),
        Claim("F8b", "Figure 8", "For beta < 1, I(x;z) is saturated at log N_train = 9.70 nats",
              "log N_train - I <= 0.25 nats at every beta < 1, both depths (exact aggregate posterior where stored)",
              (("cv-0.1", "mlp1"), ("cv-0.1", "mlp3")), _f8b),
        Claim("F8c", "Figure 8", "KL(q(z)||p(z)) is small for beta > 1 and grows as beta decreases below 1",
              "KL at every beta > 1 <= 10% of KL at the smallest beta; KL never falls by more than 0.5 nats as beta decreases (beta <= 1); exact aggregate posterior where stored",
              (("cv-0.1", "mlp1"), ("cv-0.1", "mlp3")), _f8c),
        Claim("A1", "Appendix", "The 3-layer VAE's decoder behaves like the infinite-capacity decoder at large beta (memorisation), not at small beta",
              f"largest beta: BCE(x*, x_hat) < BCE(x, x_hat) and x* dominated by one training image (mean largest weight > {DOMINATED}); smallest beta: BCE(x, x_hat) < BCE(x*, x_hat)",
              (("cv-0.1", "mlp3"),), _a1),
        Claim("A3", "Appendix", "Early stopping turns the 1-layer U-shaped D_test on CV(16k/147k) into one that falls monotonically as beta falls",
              f"without early stopping: {U_SHAPE} (else inconclusive); with it: {MONOTONE}",
              (("cv-0.1", "mlp1"), ("cv-0.1", "mlp1", "early-stopping")), _a3),
        Claim("A4", "Appendix", "On CV(16k/147k), 3-layer: test log p(x) is maximal at beta = 0.1",
              "argmax over the beta grid of the importance-weighted test log p(x) is 0.1", (("cv-0.1", "mlp3"),), _a4),
        Claim("A8", "Appendix", "Training with the marginal KL removed from the loss improves generalisation at beta >= 1 (lower test D, smaller train-test gap); with the MI removed the test D stays close to the beta-VAE's (3-layer MLP, CV(16k/147k))",
              f"at every beta >= 1: D_test(beta-VAE) - D_test(marginal KL removed) > tol; their gaps D_test - D_train differ by more than max(1 nat, 2 standard errors of the difference); |D_test(MI removed) - D_test(beta-VAE)| <= max(tol, {CLOSE_SHARE:.0%} of D_test(beta-VAE)); the three trained alike (batch 512, SPEC d.5)",
              tuple(OBJECTIVE_KEYS.values()), _a8),
    ]
}  # fmt: skip


# ------------------------------------------------------------------ theory: Ichikawa & Hukushima (SPEC g)
LINEAR = ("table", "linear-vae")
THRESHOLD_MARGIN = 0.1  # |beta - beta_c| within this: finite N may shift the collapse either way


def _sim_mean(rows: list[dict], key: str, **where) -> dict[float, float]:
    """Mean of ``key`` over seeds, by the one grid coordinate not fixed in ``where``."""
    free = "beta" if "alpha" in where else "alpha"
    chosen = [r for r in rows if all(math.isclose(r[k], v) for k, v in where.items())]
    return {
        x: float(np.mean([r[key] for r in chosen if r[free] == x])) for x in sorted({r[free] for r in chosen})
    }


def _i1(tables):
    from rdvae.theory.linear_vae import collapse_threshold

    rows = tables[LINEAR].rows
    decided = [r for r in rows if abs(r["beta"] - collapse_threshold(r["alpha"])) > THRESHOLD_MARGIN]
    agree = [r for r in decided if r["collapsed"] == (r["beta"] >= collapse_threshold(r["alpha"]))]
    wrong = sorted({(r["alpha"], r["beta"]) for r in decided if r not in agree})
    numbers = {"fits compared (|beta - beta_c| > 0.1)": len(decided), "agreeing": len(agree),
               "(alpha, beta) disagreeing": wrong or "none"}  # fmt: skip
    return len(decided) > 0 and len(agree) >= 0.95 * len(decided), numbers


def _i2(tables):
    rows = tables[LINEAR].rows
    alpha = max(r["alpha"] for r in rows)
    errors = _sim_mean(rows, "eps_g", alpha=alpha)
    best = min(errors, key=errors.get)
    betas = sorted(errors)
    nearest_eta = min(betas, key=lambda b: abs(b - 1.0))
    collapsed = _sim_mean(rows, "collapsed", alpha=alpha)
    live = [b for b in betas if collapsed[b] < 0.5]
    dead = [b for b in betas if collapsed[b] >= 0.5]
    if not live or not dead:
        raise Undecidable(f"at alpha = {alpha:g} the beta grid does not bracket the collapse")
    threshold = 0.5 * (max(live) + min(dead))
    step = max(np.diff(betas))
    numbers = {"largest alpha": alpha, "eps_g by beta (simulated)": {b: _r(e, 3) for b, e in errors.items()},
               "beta with the smallest eps_g (eta = 1)": best, "simulated collapse threshold": _r(threshold, 3),
               "rho + eta": 2.0, "grid step": _r(step)}  # fmt: skip
    return math.isclose(best, nearest_eta) and abs(threshold - 2.0) <= step, numbers


def _i3(tables):
    rows = tables[LINEAR].rows
    beta = min({r["beta"] for r in rows}, key=lambda b: abs(b - 0.5))
    errors = _sim_mean(rows, "eps_g", beta=beta)
    peak = max(errors, key=errors.get)
    numbers = {
        "beta": beta,
        "eps_g by alpha (simulated)": {a: _r(e, 3) for a, e in errors.items()},
        "peak at alpha": peak,
    }
    return 0.5 <= peak <= 2.0, numbers


def _i4(tables):
    rows = tables[LINEAR].rows
    beta = min(r["beta"] for r in rows)
    test_rate = _sim_mean(rows, "test_rate", beta=beta)
    values = list(test_rate.values())
    numbers = {"beta": beta, "test rate by alpha (simulated)": {a: _r(v, 3) for a, v in test_rate.items()}}
    return bool(np.all(np.diff(values) >= -0.02)) and values[-1] - values[0] > 0.1, numbers


# ------------------------------------------------------------------------ theory: Kumar & Poole (SPEC f)
IMPLICIT = ("table", "implicit")


def _k1(_tables):
    """No training: random linear-Gaussian decoders, float64."""
    import torch

    from rdvae.theory.implicit import linear_gaussian_objectives

    generator = torch.Generator().manual_seed(2020)
    worst = {"diagonal": 0.0, "full": 0.0}
    for beta in (0.1, 1.0, 3.0):
        weight = torch.randn(50, 10, generator=generator, dtype=torch.float64)
        bias, x = (torch.randn(50, generator=generator, dtype=torch.float64) for _ in range(2))
        mu = torch.randn(10, generator=generator, dtype=torch.float64)
        values = linear_gaussian_objectives(weight, bias, mu, x, noise_var=0.5, beta=beta)
        for family in worst:
            gap = abs(values[f"exact, {family}"] - values[f"approximation, {family}"]) / abs(
                values[f"exact, {family}"]
            )
            worst[family] = max(worst[family], gap)
    return max(worst.values()) < 1e-12, {
        f"largest relative gap, {k} covariance": f"{v:.1e}" for k, v in worst.items()
    }


def _implicit_rows(tables, objective: str, partition: str = "test") -> dict[float, dict]:
    """Mean over seeds of every measured column, by beta."""
    rows = [r for r in tables[IMPLICIT].rows if r["objective"] == objective and r["partition"] == partition]
    out = {}
    for beta in sorted({r["beta"] for r in rows}):
        chosen = [r for r in rows if r["beta"] == beta]
        keys = [k for k, v in chosen[0].items() if isinstance(v, float) and k != "beta"]
        out[beta] = {k: float(np.mean([r[k] for r in chosen if r.get(k) is not None])) for k in keys}
    return out


def _k2(tables):
    vae = _implicit_rows(tables, "beta-vae")
    beta = min(vae)
    median, corr = vae[beta]["variance_ratio_median"], vae[beta]["log_variance_corr"]
    numbers = {"by beta: median sigma^2 / (beta/(beta + h)), corr of logs": {
        b: (_r(v["variance_ratio_median"], 3), _r(v["log_variance_corr"], 3)) for b, v in vae.items()}}  # fmt: skip
    return 0.8 <= median <= 1.25 and corr >= 0.9, numbers


def _k3(tables):
    vae, det = _implicit_rows(tables, "beta-vae"), _implicit_rows(tables, "deterministic")
    betas = sorted(set(vae) & set(det))
    gaps = {b: (det[b]["neg_objective"] - vae[b]["neg_objective"]) / vae[b]["neg_objective"] for b in betas}
    same_way = all(
        np.sign(det[b]["neg_objective"] - det[a]["neg_objective"])
        == np.sign(vae[b]["neg_objective"] - vae[a]["neg_objective"])
        for a, b in zip(betas, betas[1:], strict=False)
    )
    numbers = {"test -L_beta (beta-VAE, deterministic)": {b: (_r(vae[b]["neg_objective"]), _r(det[b]["neg_objective"])) for b in betas},
               "relative gap": {b: _r(g, 4) for b, g in gaps.items()}, "move the same way with beta": same_way}  # fmt: skip
    return all(abs(g) <= 0.05 for g in gaps.values()) and same_way, numbers


def _k4(tables):
    vae, det = _implicit_rows(tables, "beta-vae"), _implicit_rows(tables, "deterministic")
    betas = sorted(set(vae) & set(det))
    if len(betas) < 3:
        raise Undecidable("fewer than three betas to compare trends")
    ranks = [np.argsort(np.argsort([rows[b]["frechet"] for b in betas])) for rows in (vae, det)]
    spearman = float(np.corrcoef(ranks[0], ranks[1])[0, 1])
    numbers = {"Frechet distance (beta-VAE, deterministic)": {b: (_r(vae[b]["frechet"]), _r(det[b]["frechet"])) for b in betas},
               "Spearman rank correlation": _r(spearman, 3)}  # fmt: skip
    return spearman >= 0.8, numbers


def _k5(tables):
    vae, det = _implicit_rows(tables, "beta-vae"), _implicit_rows(tables, "deterministic")
    plain = _implicit_rows(tables, "autoencoder")[0.0]["off_diagonal_mass"]
    betas = sorted(set(vae) & set(det))
    numbers = {"autoencoder": _r(plain, 3),
               "(beta-VAE, deterministic) by beta": {b: (_r(vae[b]["off_diagonal_mass"], 3), _r(det[b]["off_diagonal_mass"], 3)) for b in betas}}  # fmt: skip
    return all(
        vae[b]["off_diagonal_mass"] < plain and det[b]["off_diagonal_mass"] < plain for b in betas
    ), numbers


THEORY_CLAIMS = {
    c.id: c
    for c in [
        Claim("I1", "Linear VAE", "The posterior collapses if and only if beta >= beta_c(alpha) = l/(1 + lambda/alpha) - (lambda/alpha)/l",
              "finite-N fits (q = |w|^2/N < 1e-3 counts as collapsed) agree with beta >= beta_c in >= 95% of the (alpha, beta, seed) grid, leaving out |beta - beta_c| <= 0.1",
              (LINEAR,), _i1),
        Claim("I2", "Linear VAE", "With much data the best beta is the noise level eta and collapse sets in at rho + eta",
              "at the largest alpha simulated: the grid beta with the smallest mean eps_g is the one nearest eta = 1, and the simulated collapse threshold is within one grid step of rho + eta = 2",
              (LINEAR,), _i2),
        Claim("I3", "Linear VAE", "The signal-recovery error eps_g(alpha) peaks near alpha = (eta/rho)^2 = 1",
              "at beta = 0.5, the alpha with the largest mean simulated eps_g is in [0.5, 2]", (LINEAR,), _i3),
        Claim("I4", "Linear VAE", "At a small fixed beta the test rate grows with the dataset size alpha",
              "at the smallest beta simulated, the mean test rate never falls by more than 0.02 nats from one alpha to the next larger, and rises by more than 0.1 nats overall",
              (LINEAR,), _i4),
        Claim("K1", "Implicit regularisation", "For a linear-Gaussian decoder the deterministic approximation equals the exact beta-objective at the optimal posterior covariance",
              "gap below 1e-10 relative to the objective's terms beyond log p(x|mu) (float64), diagonal and full covariance, three betas, random decoders (no training)",
              (), _k1),
        Claim("K2", "Implicit regularisation", "A trained beta-VAE's encoder variances follow sigma_i^2 = beta / (beta + h_i(mu)), h the decoder's Gauss-Newton curvature",
              "at the smallest beta, over test images and latent dimensions: median ratio in [0.8, 1.25] and correlation of the logs >= 0.9",
              (IMPLICIT,), _k2),
        Claim("K3", "Implicit regularisation", "The deterministic approximation reaches the beta-VAE's objective and moves the same way with beta",
              "test -L_beta (with q = N(mu, sigma*^2) for the approximation) within 5% of the beta-VAE's at every beta, and the same sign of change between neighbouring betas",
              (IMPLICIT,), _k3),
        Claim("K4", "Implicit regularisation", "Sample quality varies with beta the same way for the beta-VAE and the deterministic approximation",
              "Spearman rank correlation >= 0.8 between their Frechet distances across beta (pixel-PCA features: Inception weights cannot be downloaded here)",
              (IMPLICIT,), _k4),
        Claim("K5", "Implicit regularisation", "The diagonal Gaussian posterior makes the decoder's curvature more diagonal than a plain autoencoder's",
              "mean off-diagonal mass sum_(i!=j) H_ij^2 / sum_i H_ii^2 of H = J^T diag(pi(1-pi)) J on test images below the autoencoder's at every beta, for both the beta-VAE and the approximation",
              (IMPLICIT,), _k5),
    ]
}  # fmt: skip


def _u_depths(runs, datasets):
    depths = {}
    for d in datasets:
        for arch in ("mlp1", "mlp3"):
            _, rise = interior_minimum_rise(_rows(runs, ("cv-0.1", arch, f"dataset={d}")))
            depths[(d, arch)] = rise
    return depths


def figure7_claims(datasets: list[str]) -> list[Claim]:
    """F7a-F7c for the datasets that are available (the paper used Fashion-MNIST, SmallNORB, MNIST
    and 3dShapes; digits stands in for MNIST when it is absent)."""
    keys = tuple(("cv-0.1", a, f"dataset={d}") for d in datasets for a in ("mlp1", "mlp3"))

    def shape(runs, d, arch):
        return u_shape(_rows(runs, ("cv-0.1", arch, f"dataset={d}")))[0]

    def f7a(runs):
        minima = {d: shape(runs, d, "mlp1") for d in datasets}
        return sum(minima.values()) > len(datasets) / 2, {"1-layer has an interior minimum": minima}

    def f7b(runs):
        depths = _u_depths(runs, datasets)
        # closer to monotone: a shallower U, or no U at all at either depth (a tie of two monotone curves)
        closer = {
            d: depths[(d, "mlp3")] < depths[(d, "mlp1")]
            or not (shape(runs, d, "mlp1") or shape(runs, d, "mlp3"))
            for d in datasets
        }
        numbers = {
            "U-depth (1-layer, 3-layer)": {
                d: (_r(depths[(d, "mlp1")]), _r(depths[(d, "mlp3")])) for d in datasets
            }
        }
        return sum(closer.values()) > len(datasets) / 2, numbers

    def f7c(runs):
        if "3dshapes" not in datasets:
            raise Undecidable("3dShapes is not available (put 3dshapes.h5 in the data folder)")
        depths = _u_depths(runs, ["3dshapes"])
        return depths[("3dshapes", "mlp3")] > depths[("3dshapes", "mlp1")], {
            "3dshapes U-depth (1-layer, 3-layer)": (
                _r(depths[("3dshapes", "mlp1")]),
                _r(depths[("3dshapes", "mlp3")]),
            )
        }

    return [
        Claim(
            "F7a",
            "Figure 7",
            "The 1-layer test curves show a local minimum in most datasets",
            f"{U_SHAPE}; in more than half of the datasets",
            keys,
            f7a,
        ),
        Claim(
            "F7b",
            "Figure 7",
            "The 3-layer curves are closer to monotone than the 1-layer ones",
            "U-depth (D at smallest beta minus min D) of 3-layer below 1-layer, or neither U-shaped, in more than half of the datasets",
            keys,
            f7b,
        ),
        Claim(
            "F7c",
            "Figure 7",
            "Exception: on 3dShapes the 3-layer network has the more pronounced minimum",
            "3dShapes: U-depth of 3-layer above 1-layer",
            keys,
            f7c,
        ),
    ]


def paper_claims() -> list[Claim]:
    """Every claim of the paper's figures and appendix: :data:`CLAIMS`, and Figure 7's over the
    datasets readable on this machine (the bundled digits at least; :func:`rdvae.data.images.availability`)."""
    from rdvae.data import images

    datasets = [name for name, text in images.availability().items() if text.startswith("available")]
    return list(CLAIMS.values()) + figure7_claims(datasets)


def describe(verdict: Verdict, numbers: bool = False) -> list[str]:
    """A verdict for the terminal: its claim, status and budget on one line, then, indented, the
    numbers behind it (if ``numbers``), the note and the runs still falling when training stopped."""
    where = f"  [{verdict.decided_at}: {verdict.budget}]" if verdict.decided_at else ""
    lines = [f"{verdict.claim:<5} {verdict.status}{where}"]
    lines += [f"      {name}: {value}" for name, value in verdict.numbers.items()] if numbers else []
    lines += [f"      {text}" for text in (verdict.note, verdict.still_falling) if text]
    return lines


def claims_for(figure: str) -> list[Claim]:
    return [c for c in CLAIMS.values() if c.figure == figure]


def keys_for(claims: Iterable[Claim]) -> list[tuple]:
    return sorted({key for claim in claims for key in claim.needs})


def evaluate(claims: Iterable[Claim], runs: Runs, profile: str) -> list[Verdict]:
    return [claim.evaluate(runs, profile) for claim in claims]


def at_every_budget(claims: Iterable[Claim], evidence: Evidence) -> dict[str, dict[Tier, Verdict]]:
    """Per claim, its verdict at every budget (tier, most-trained first) that holds all the runs it
    compares (:meth:`Claim.evaluate_at_every_budget`): how a verdict moves as training gets longer.
    A claim whose runs are never all stored at one budget has none."""
    return {claim.id: claim.evaluate_at_every_budget(evidence) for claim in claims}


def budget_history(found: dict[Tier, Verdict]) -> str:
    """One claim's verdicts (:func:`at_every_budget`), least-trained first, e.g.
    ``"cpu (6,000 it): not reproduced -> long (50,000 it): reproduced"``."""
    return " -> ".join(f"{tier_name(t)}: {found[t].status}" for t in tier_order(found)[::-1])


def changes_with_budget(by_claim: dict[str, dict[Tier, Verdict]]) -> dict[str, str]:
    """The claims whose verdict differs between budgets, each with its :func:`budget_history`."""
    return {
        claim: budget_history(found)
        for claim, found in by_claim.items()
        if len({verdict.status for verdict in found.values()}) > 1
    }
