"""The replication ledger on synthetic results whose truth is known by construction."""

import math

import numpy as np
import pytest

from rdvae import ledger
from rdvae.config import RunConfig
from rdvae.store import RunResults

BETAS = (0.01, 0.1, 0.3, 1.0, 3.0)


def fake(
    split, arch, test_d, train_d=None, seeds=(0, 1), betas=BETAS, rate=None, mi=None, kl=None, log_px=None
):
    """A RunResults whose per-beta metrics are given functions of beta (seed noise +-0.1)."""
    config = RunConfig(split=split, arch=arch, betas=betas, seeds=seeds, iterations=10)
    rows = []
    for partition, d in (("train", train_d or test_d), ("test", test_d)):
        for seed in seeds:
            for beta in betas:
                jitter = 0.1 * (seed - 0.5)
                r = rate(beta) if rate else 20 / (1 + beta)
                rows.append({
                    "beta": beta, "seed": seed, "partition": partition, "n": 100, "rate": r + jitter,
                    "distortion": d(beta) + jitter, "elbo": -(d(beta) + r), "status": "ok",
                    "log_px": log_px(beta) if log_px else -(d(beta) + r),
                    "mi": mi(beta) if mi else 1.0, "marginal_kl": kl(beta) if kl else 1.0,
                })  # fmt: skip
    return RunResults(config, rows, [], {}, {})


def u_shaped(beta):
    return 100 + 20 * (math.log10(beta) + 1) ** 2  # minimum at beta = 0.1


def monotone(beta):
    return 100 + 30 * math.log10(beta) + 60  # falls as beta falls


def test_helpers_on_known_shapes():
    from rdvae import summary

    rows = summary.by_beta(fake("cv-0.1", "mlp1", u_shaped), "test")
    assert ledger.interior_minimum_rise(rows) == (0.1, pytest.approx(20.0))
    assert ledger.worst_rise_as_beta_decreases(rows) == pytest.approx(20.0)
    rows = summary.by_beta(fake("cv-0.1", "mlp1", monotone), "test")
    assert ledger.worst_rise_as_beta_decreases(rows) < 0
    assert ledger.tolerance(rows) == 1.0  # seed sd 0.07 < 1 nat


def test_f3c_reproduced_on_a_u_shape_and_not_on_a_monotone_curve():
    claim = ledger.CLAIMS["F3c"]
    good = {("cv-0.1", "mlp1"): fake("cv-0.1", "mlp1", u_shaped, train_d=monotone)}
    assert claim.evaluate(good, "cpu").status == ledger.REPRODUCED
    bad = {("cv-0.1", "mlp1"): fake("cv-0.1", "mlp1", monotone, train_d=monotone)}
    verdict = claim.evaluate(bad, "cpu")
    assert verdict.status == ledger.NOT_REPRODUCED
    assert verdict.numbers["test: beta at min D"] == 0.01


def test_missing_runs_and_small_profiles_are_inconclusive():
    claim = ledger.CLAIMS["F3c"]
    verdict = claim.evaluate({}, "cpu")
    assert verdict.status == ledger.INCONCLUSIVE and "not run at profile cpu" in verdict.note
    good = {("cv-0.1", "mlp1"): fake("cv-0.1", "mlp1", u_shaped, train_d=monotone)}
    verdict = claim.evaluate(good, "smoke")
    assert verdict.status == ledger.INCONCLUSIVE and verdict.numbers  # computed, but not decided


def test_a_claim_about_beta_0_1_is_inconclusive_without_it():
    runs = {("cv-0.1", "mlp3"): fake("cv-0.1", "mlp3", u_shaped, betas=(0.01, 0.3, 1.0, 3.0))}
    verdict = ledger.CLAIMS["A4"].evaluate(runs, "cpu")
    assert verdict.status == ledger.INCONCLUSIVE and "beta = 0.1" in verdict.note


def test_a4_finds_the_log_px_peak():
    runs = {("cv-0.1", "mlp3"): fake("cv-0.1", "mlp3", monotone, log_px=lambda b: -u_shaped(b))}
    assert ledger.CLAIMS["A4"].evaluate(runs, "cpu").status == ledger.REPRODUCED
    runs = {("cv-0.1", "mlp3"): fake("cv-0.1", "mlp3", monotone, log_px=lambda b: -monotone(b))}
    assert ledger.CLAIMS["A4"].evaluate(runs, "cpu").status == ledger.NOT_REPRODUCED


def test_f8_claims_follow_the_information_curves():
    log_n = math.log(16_384)

    def mi(beta):
        return log_n - 0.01 if beta < 1 else log_n * (1.5 - beta / 2) / 1.0 if beta < 3 else 1.0

    def kl(beta):
        return 30 * max(0.0, -math.log10(beta)) + 0.5

    runs = {(s, a): fake(s, a, monotone, mi=mi, kl=kl) for s, a in [("cv-0.1", "mlp1"), ("cv-0.1", "mlp3")]}
    for claim in ("F8a", "F8b", "F8c"):
        assert ledger.CLAIMS[claim].evaluate(runs, "cpu").status == ledger.REPRODUCED, claim
    unsaturated = {k: fake(*k, monotone, mi=lambda b: 5.0, kl=kl) for k in runs}
    assert ledger.CLAIMS["F8b"].evaluate(unsaturated, "cpu").status == ledger.NOT_REPRODUCED


def test_f5_compares_distances_between_curves():
    runs = {}
    for arch in ("mlp1", "mlp3"):
        runs[("default", arch)] = fake("default", arch, lambda b: 80 + b)
        runs[("cv-0.1", arch)] = fake("cv-0.1", arch, lambda b: 120 + b)
        runs[("checkerboard", arch)] = fake("checkerboard", arch, lambda b: 115 + b)
    assert ledger.CLAIMS["F5"].evaluate(runs, "cpu").status == ledger.REPRODUCED
    runs[("checkerboard", "mlp3")] = fake("checkerboard", "mlp3", lambda b: 85 + b)
    assert ledger.CLAIMS["F5"].evaluate(runs, "cpu").status == ledger.NOT_REPRODUCED


def test_a3_needs_a_u_shape_for_early_stopping_to_remove():
    def runs(plain, stopped):
        return {("cv-0.1", "mlp1"): fake("cv-0.1", "mlp1", plain),
                ("cv-0.1", "mlp1", "early-stopping"): fake("cv-0.1", "mlp1", stopped)}  # fmt: skip

    claim = ledger.CLAIMS["A3"]
    assert claim.evaluate(runs(u_shaped, monotone), "cpu").status == ledger.REPRODUCED
    assert claim.evaluate(runs(u_shaped, u_shaped), "cpu").status == ledger.NOT_REPRODUCED
    verdict = claim.evaluate(runs(monotone, monotone), "cpu")
    assert verdict.status == ledger.INCONCLUSIVE and "already has no U-shape" in verdict.note


def test_every_claim_names_its_figure_threshold_and_runs():
    assert set(ledger.CLAIMS) >= {"F3a", "F3b", "F3c", "F3d", "F3e", "F4a", "F4b", "F4c", "F5", "F6a", "F6b",
                                  "F8a", "F8b", "F8c", "A1", "A3", "A4"}  # fmt: skip
    for claim in ledger.CLAIMS.values():
        assert claim.threshold and claim.needs and claim.figure
        assert ledger.evaluate([claim], {}, "cpu")[0].status == ledger.INCONCLUSIVE
    assert np.all(
        [len(ledger.keys_for(ledger.claims_for(f))) > 0 for f in ("Figure 3", "Figure 8", "Appendix")]
    )
