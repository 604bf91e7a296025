"""The replication ledger: every checkable claim of SPEC (e) as a function of stored results.

Each claim returns a verdict, "reproduced", "not reproduced" or "inconclusive at this profile", and
the numbers behind it; no verdict is written by hand.  A claim is inconclusive when a run it needs is
missing, when the beta grid lacks a value it refers to, or when the profile is too small to decide
(``smoke``).  The thresholds are stated with each claim; the shared ones are:

- tolerance step ``tol`` = max(1 nat, largest seed standard deviation among the points compared);
- "decreases monotonically as beta decreases": along the beta grid from large to small beta, no
  step rises by more than ``tol``;
- "U-shaped / interior minimum": the minimum is not at the smallest beta, and the value at the
  smallest beta exceeds it by more than ``tol``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from rdvae import summary
from rdvae.profiles import get_profile
from rdvae.store import RunResults

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive at this profile"
Runs = dict[tuple, RunResults | None]


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


@dataclass(frozen=True)
class Claim:
    id: str
    figure: str
    statement: str
    threshold: str
    needs: tuple[tuple, ...]
    check: Callable[[Runs], tuple[bool, dict]]

    def evaluate(self, runs: Runs, profile: str) -> Verdict:
        base = dict(claim=self.id, figure=self.figure, statement=self.statement, threshold=self.threshold)
        missing = [key for key in self.needs if runs.get(key) is None]
        if missing:
            names = ", ".join("/".join(k) for k in missing)
            return Verdict(**base, status=INCONCLUSIVE, note=f"not run at profile {profile}: {names}")
        try:
            holds, numbers = self.check(runs)
        except Undecidable as reason:
            return Verdict(**base, status=INCONCLUSIVE, note=str(reason))
        if not get_profile(profile).decides_claims:
            return Verdict(**base, status=INCONCLUSIVE, numbers=numbers,
                           note=f"profile {profile} is too small to decide any claim")  # fmt: skip
        return Verdict(**base, status=REPRODUCED if holds else NOT_REPRODUCED, numbers=numbers)


# --------------------------------------------------------------------------------------- helpers
def _rows(runs: Runs, key: tuple, partition: str = "test") -> list[dict]:
    rows = summary.by_beta(runs[key], partition)
    if len(rows) < 3:
        raise Undecidable(f"{'/'.join(key)} has {len(rows)} beta values with finished members; need 3")
    return rows


def tolerance(rows: list[dict], metric: str = "distortion") -> float:
    return max(1.0, max(row[f"{metric}_std"] for row in rows))


def worst_rise_as_beta_decreases(rows: list[dict], metric: str = "distortion") -> float:
    """Largest increase of ``metric`` from one beta to the next smaller one (negative: all decrease)."""
    values = summary.column(sorted(rows, key=lambda r: -r["beta"]), metric)
    return float(np.max(np.diff(values)))


def interior_minimum_rise(rows: list[dict], metric: str = "distortion") -> tuple[float, float]:
    """(beta at the minimum, rise from the minimum to the value at the smallest beta)."""
    values = summary.column(rows, metric)  # rows are in ascending beta
    i = int(np.argmin(values))
    return rows[i]["beta"], float(values[0] - values[i])


def _at(rows: list[dict], beta: float) -> dict:
    row = summary.at_beta(rows, beta)
    if row is None:
        raise Undecidable(f"the beta grid has no beta = {beta:g}")
    return row


def _r(x: float, digits: int = 2) -> float:
    return round(float(x), digits)


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
    numbers = {"betas": betas, "D3 - D1": [_r(x) for x in d], "R3 - R1": [_r(x) for x in r]}
    return all(x < 0 for x in d) and sum(x < 0 for x in r) >= len(r) / 2, numbers


def _f3c(runs):
    train, test = _rows(runs, ("cv-0.1", "mlp1"), "train"), _rows(runs, ("cv-0.1", "mlp1"), "test")
    rise_train, tol_train = worst_rise_as_beta_decreases(train), tolerance(train)
    beta_min, rise_test = interior_minimum_rise(test)
    tol_test = tolerance(test)
    numbers = {"train: worst rise as beta decreases": _r(rise_train), "train tol": _r(tol_train),
               "test: beta at min D": beta_min, "test: rise to smallest beta": _r(rise_test), "test tol": _r(tol_test)}  # fmt: skip
    return rise_train <= tol_train and rise_test > tol_test and beta_min > test[0]["beta"], numbers


def _f3d(runs):
    train, test = _rows(runs, ("cv-0.1", "mlp3"), "train"), _rows(runs, ("cv-0.1", "mlp3"), "test")
    below_one = [r for r in test if r["beta"] <= 1.0]
    if len(below_one) < 2:
        raise Undecidable("fewer than two betas <= 1 in the grid")
    rise, tol = worst_rise_as_beta_decreases(below_one), tolerance(below_one)
    gaps = [t["distortion"] - s["distortion"] for t, s in zip(test, train, strict=True)]
    numbers = {"worst rise as beta decreases (beta <= 1)": _r(rise), "tol": _r(tol),
               "gap D_test - D_train by beta": dict(zip([r["beta"] for r in test], [_r(g) for g in gaps], strict=True))}  # fmt: skip
    return rise <= tol and int(np.argmax(gaps)) == len(gaps) - 1, numbers


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


def _f4a(runs):
    differences = []
    for split in CV_SIZES:
        u = [interior_minimum_rise(_rows(runs, (split, arch)))[1] for arch in ("mlp1", "mlp3")]
        differences.append(u[0] - u[1])
    rises = np.diff(differences)  # should not fall as N decreases (list runs from large to small N)
    numbers = {"U-depth(1-layer) - U-depth(3-layer), N large to small": [_r(x) for x in differences]}
    return bool(np.all(rises >= -1.0)) and differences[-1] > differences[0], numbers


def _spread_across(runs, splits_: Iterable[str], arch: str) -> tuple[float, float]:
    curves = [_rows(runs, (split, arch)) for split in splits_]
    betas = [r["beta"] for r in curves[0]]
    spreads = [np.ptp([summary.at_beta(c, b)["distortion"] for c in curves]) for b in betas]
    mean_d = np.mean([r["distortion"] for c in curves for r in c])
    return float(max(spreads)), float(mean_d)


def _f4b(runs):
    spread, mean_d = _spread_across(runs, CD_SIZES, "mlp3")
    limit = max(2.0, 0.02 * mean_d)
    return spread <= limit, {"max spread of D_test across sizes": _r(spread), "limit": _r(limit)}


def _f4c(runs):
    minima = {split: interior_minimum_rise(_rows(runs, (split, "mlp1"))) for split in CD_SIZES}
    tol = max(tolerance(_rows(runs, (split, "mlp1"))) for split in CD_SIZES)
    spread, mean_d = _spread_across(runs, CD_SIZES, "mlp1")
    limit = max(3.0, 0.05 * mean_d)
    numbers = {"(beta at min, rise) by size": {k: (b, _r(r)) for k, (b, r) in minima.items()},
               "tol": _r(tol), "max spread across sizes": _r(spread), "limit": _r(limit)}  # fmt: skip
    return all(rise > tol for _, rise in minima.values()) and spread <= limit, numbers


def _f5(runs):
    numbers, holds = {}, True
    for arch in ("mlp1", "mlp3"):
        board, sparse, dense = (_rows(runs, (s, arch)) for s in ("checkerboard", "cv-0.1", "default"))
        to_sparse = np.mean(
            np.abs(summary.column(board, "distortion") - summary.column(sparse, "distortion"))
        )
        to_dense = np.mean(np.abs(summary.column(board, "distortion") - summary.column(dense, "distortion")))
        numbers |= {
            f"{arch}: mean |D_cb - D_cv16k|": _r(to_sparse),
            f"{arch}: mean |D_cb - D_cv82k|": _r(to_dense),
        }
        holds &= to_sparse < to_dense
    return holds, numbers


def _f6a(runs):
    test = _rows(runs, ("cv-0.1", "cnn3"))
    rise, tol = worst_rise_as_beta_decreases(test), tolerance(test)
    return rise <= tol, {"worst rise as beta decreases": _r(rise), "tol": _r(tol)}


def _f6b(runs):
    test = _rows(runs, ("cv-0.1", "cnn1"))
    rise = worst_rise_as_beta_decreases(test)
    limit = max(3.0, 0.01 * np.mean(summary.column(test, "distortion")))
    return rise <= limit, {"worst rise as beta decreases": _r(rise), "limit": _r(limit)}


def _information(runs, arch):
    results = runs[("cv-0.1", arch)]
    return _rows(runs, ("cv-0.1", arch), "train"), math.log(results.config.partition_sizes()["train"])


def _f8a(runs):
    numbers, holds = {}, True
    for arch in ("mlp1", "mlp3"):
        rows, _ = _information(runs, arch)
        above = [r for r in rows if r["beta"] >= 1.0]
        if len(above) < 2:
            raise Undecidable("fewer than two betas >= 1 in the grid")
        mi = summary.column(above, "mi")
        numbers[f"{arch}: I by beta >= 1"] = {r["beta"]: _r(r["mi"]) for r in above}
        holds &= bool(np.all(np.diff(mi) <= 0.1)) and mi[-1] < mi[0] - 0.5
    return holds, numbers


def _f8b(runs):
    numbers, holds = {}, True
    for arch in ("mlp1", "mlp3"):
        rows, log_n = _information(runs, arch)
        below = [r for r in rows if r["beta"] < 1.0]
        numbers[f"{arch}: log N - I by beta < 1"] = {r["beta"]: _r(log_n - r["mi"], 3) for r in below}
        holds &= all(log_n - r["mi"] <= 0.25 for r in below)
    return holds, numbers


def _f8c(runs):
    numbers, holds = {}, True
    for arch in ("mlp1", "mlp3"):
        rows, _ = _information(runs, arch)
        kl_small_beta = rows[0]["marginal_kl"]
        above = [r["marginal_kl"] for r in rows if r["beta"] > 1.0]
        below = [r for r in rows if r["beta"] <= 1.0]
        numbers[f"{arch}: KL by beta"] = {r["beta"]: _r(r["marginal_kl"]) for r in rows}
        holds &= bool(above) and max(above) <= 0.1 * kl_small_beta and -worst_fall(below) <= 0.5
    return holds, numbers


def worst_fall(rows: list[dict], metric: str = "marginal_kl") -> float:
    """Most negative change of ``metric`` from one beta to the next smaller one (0 if none falls)."""
    values = summary.column(sorted(rows, key=lambda r: -r["beta"]), metric)
    return float(min(0.0, np.min(np.diff(values)))) if len(values) > 1 else 0.0


def _a1(runs):
    test = _rows(runs, ("cv-0.1", "mlp3"))
    large, small = test[-1], test[0]
    numbers = {f"beta={r['beta']:g}: recon-to-x*, recon-to-x, max weight": (
        _r(r["distance_to_optimal"]), _r(r["distance_to_input"]), _r(r["memorisation_weight"], 3)) for r in test}  # fmt: skip
    memorises_large = large["distance_to_optimal"] < large["distance_to_input"]
    return memorises_large and small["distance_to_input"] < small["distance_to_optimal"], numbers


def _a3(runs):
    """Early stopping must *remove* a U-shape: the run without it has to show one for a verdict."""
    plain = _rows(runs, ("cv-0.1", "mlp1"))
    _, u_rise = interior_minimum_rise(plain)
    if u_rise <= tolerance(plain):
        raise Undecidable(
            f"without early stopping the test curve already has no U-shape (rise to the smallest beta "
            f"{u_rise:.2f} <= tol {tolerance(plain):.2f} nats), so there is nothing for early stopping to remove"
        )
    test = _rows(runs, ("cv-0.1", "mlp1", "early-stopping"))
    rise, tol = worst_rise_as_beta_decreases(test), tolerance(test)
    numbers = {"without early stopping: rise to the smallest beta": _r(u_rise),
               "with early stopping: worst rise as beta decreases": _r(rise), "tol": _r(tol)}  # fmt: skip
    return rise <= tol, numbers


def _a4(runs):
    test = _rows(runs, ("cv-0.1", "mlp3"))
    _at(test, 0.1)
    best = max(test, key=lambda r: r["log_px"])["beta"]
    return math.isclose(best, 0.1), {"beta with max test log p(x)": best,
                                     "test log p(x) by beta": {r["beta"]: _r(r["log_px"]) for r in test}}  # fmt: skip


MONOTONE = "no step up by more than tol = max(1 nat, largest seed sd) as beta decreases"
U_SHAPE = "minimum not at the smallest beta, and the smallest beta's D exceeds it by more than tol"
CLAIMS = {
    c.id: c
    for c in [
        Claim("F3a", "Figure 3", "On CV(82k/82k) train and test RD curves nearly coincide, for both depths",
              "max over beta of |D_test - D_train| <= max(2 nats, 10% of the train D range)",
              (("default", "mlp1"), ("default", "mlp3")), _f3a),
        Claim("F3b", "Figure 3", "On CV(82k/82k) the 3-layer curve lies below-left of the 1-layer curve",
              "test D lower at every beta, and test R lower at at least half of them",
              (("default", "mlp1"), ("default", "mlp3")), _f3b),
        Claim("F3c", "Figure 3", "On CV(16k/147k), 1-layer: D_train falls monotonically as beta falls; D_test is U-shaped",
              f"train: {MONOTONE}; test: {U_SHAPE}", (("cv-0.1", "mlp1"),), _f3c),
        Claim("F3d", "Figure 3", "On CV(16k/147k), 3-layer: D_test falls as beta falls below 1; the gap is largest at large beta",
              f"test, beta <= 1: {MONOTONE}; D_test - D_train largest at the largest beta", (("cv-0.1", "mlp3"),), _f3d),
        Claim("F3e", "Figure 3", "On CV(16k/147k), 3-layer: test ELBO peaks at beta = 0.1; at large beta the hard example is reconstructed as a training neighbour, not at small beta",
              "argmax of test ELBO over the grid is 0.1; the first seed's reconstruction is nearer (l2) the nearest training image than the test image at the largest beta, and the reverse at the smallest",
              (("cv-0.1", "mlp3"),), _f3e),
        Claim("F4a", "Figure 4", "In CV, the 1-layer/3-layer difference grows as N_train decreases",
              "U-depth (D at smallest beta minus min D) of 1-layer minus that of 3-layer never falls by more than 1 nat from 57k to 8k, and ends higher",
              tuple((s, a) for s in CV_SIZES for a in ("mlp1", "mlp3")), _f4a),
        Claim("F4b", "Figure 4", "In CD, 3-layer test curves for the four sizes are virtually indistinguishable",
              "at every beta, D_test varies across sizes by at most max(2 nats, 2% of mean D)",
              tuple((s, "mlp3") for s in CD_SIZES), _f4b),
        Claim("F4c", "Figure 4", "In CD, 1-layer curves keep an interior minimum and depend only weakly on N_train",
              f"every size: {U_SHAPE}; spread across sizes at most max(3 nats, 5% of mean D)",
              tuple((s, "mlp1") for s in CD_SIZES), _f4c),
        Claim("F5", "Figure 5", "The Checkerboard test curve is closer to CV(16k/147k) than to CV(82k/82k)",
              "mean over beta of |D_cb - D_cv16k| < mean |D_cb - D_cv82k|, test set, both depths",
              tuple((s, a) for s in ("checkerboard", "cv-0.1", "default") for a in ("mlp1", "mlp3")), _f5),
        Claim("F6a", "Figure 6", "On CV(16k/147k) the 3-layer CNN's D_test falls monotonically as beta falls",
              MONOTONE, (("cv-0.1", "cnn3"),), _f6a),
        Claim("F6b", "Figure 6", "On CV(16k/147k) the 1-layer CNN shows at most a small non-monotonicity",
              "largest rise of D_test as beta decreases <= max(3 nats, 1% of mean D)", (("cv-0.1", "cnn1"),), _f6b),
        Claim("F8a", "Figure 8", "I(x;z) decreases as beta increases above 1 (training set, both depths)",
              "I never rises by more than 0.1 nats from one beta >= 1 to the next larger, and falls by > 0.5 nats overall",
              (("cv-0.1", "mlp1"), ("cv-0.1", "mlp3")), _f8a),
        Claim("F8b", "Figure 8", "For beta < 1, I(x;z) is saturated at log N_train = 9.70 nats",
              "log N_train - I <= 0.25 nats at every beta < 1, both depths",
              (("cv-0.1", "mlp1"), ("cv-0.1", "mlp3")), _f8b),
        Claim("F8c", "Figure 8", "KL(q(z)||p(z)) is small for beta > 1 and grows as beta decreases below 1",
              "KL at every beta > 1 <= 10% of KL at the smallest beta; KL never falls by more than 0.5 nats as beta decreases (beta <= 1)",
              (("cv-0.1", "mlp1"), ("cv-0.1", "mlp3")), _f8c),
        Claim("A1", "Appendix", "The 3-layer VAE's decoder behaves like the infinite-capacity decoder at large beta (memorisation), not at small beta",
              "largest beta: test reconstructions nearer (l2) the optimal decoder's x* than the input; smallest beta: nearer the input",
              (("cv-0.1", "mlp3"),), _a1),
        Claim("A3", "Appendix", "Early stopping turns the 1-layer U-shaped D_test on CV(16k/147k) into one that falls monotonically as beta falls",
              f"without early stopping: {U_SHAPE} (else inconclusive); with it: {MONOTONE}",
              (("cv-0.1", "mlp1"), ("cv-0.1", "mlp1", "early-stopping")), _a3),
        Claim("A4", "Appendix", "On CV(16k/147k), 3-layer: test log p(x) is maximal at beta = 0.1",
              "argmax over the beta grid of the importance-weighted test log p(x) is 0.1", (("cv-0.1", "mlp3"),), _a4),
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

    def f7a(runs):
        minima = {
            d: _u_depths(runs, [d])[(d, "mlp1")] > tolerance(_rows(runs, ("cv-0.1", "mlp1", f"dataset={d}")))
            for d in datasets
        }
        return sum(minima.values()) > len(datasets) / 2, {"1-layer has an interior minimum": minima}

    def f7b(runs):
        depths = _u_depths(runs, datasets)
        closer = {d: depths[(d, "mlp3")] < depths[(d, "mlp1")] for d in datasets}
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
            "U-depth (D at smallest beta minus min D) of 3-layer below 1-layer in more than half of the datasets",
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


def claims_for(figure: str) -> list[Claim]:
    return [c for c in CLAIMS.values() if c.figure == figure]


def keys_for(claims: Iterable[Claim]) -> list[tuple]:
    return sorted({key for claim in claims for key in claim.needs})


def evaluate(claims: Iterable[Claim], runs: Runs, profile: str) -> list[Verdict]:
    return [claim.evaluate(runs, profile) for claim in claims]
