"""The solvable linear VAE (SPEC g): the closed form against the numbers SPEC derives and verifies,
its own stationarity equations and limits, and direct optimisation of the exact loss at finite N."""

import math

import pytest
import torch

from rdvae import store
from rdvae.theory import linear_vae as L
from rdvae.theory import linear_vae_sim as S


@pytest.mark.parametrize("alpha,expected", [(0.5, 1.60), (1, 1.75), (2, 1.83), (4, 1.90), (16, 1.97)])
def test_collapse_threshold_matches_spec(alpha, expected):
    assert L.collapse_threshold(alpha) == pytest.approx(expected, abs=0.005)


@pytest.mark.parametrize("alpha", [0.25, 0.5, 1.0, 2.0, 8.0, 64.0])
@pytest.mark.parametrize("beta", [0.05, 0.5, 1.2])
def test_the_solution_satisfies_the_stationarity_equations(alpha, beta):
    s = L.stationary(alpha, beta)
    gamma, ell = 1 / alpha, s.ell
    if s.collapsed:
        assert beta >= L.collapse_threshold(alpha) and (s.encoder, s.decoder, s.v) == (0, 0, 1)
        return
    assert beta < L.collapse_threshold(alpha)
    a, d, v = s.encoder, s.decoder, s.v
    assert d == pytest.approx(a * ell / (a * a * ell + v + gamma), rel=1e-9)
    assert a == pytest.approx(d * ell / (ell * d * d + beta * ell + gamma), rel=1e-9)
    assert v == pytest.approx(beta / (beta + d * d), rel=1e-12)


def test_large_alpha_limits():
    rho = eta = 1.0
    for beta in (0.3, 1.0, 1.7):
        s = L.stationary(1e7, beta)
        assert s.q == pytest.approx(rho + eta - beta, rel=1e-5)
        assert s.v == pytest.approx(beta / (rho + eta), rel=1e-5)
        assert s.eps_g == pytest.approx((math.sqrt(rho) - math.sqrt(rho + eta - beta)) ** 2, abs=1e-5)
    assert L.collapse_threshold(1e7) == pytest.approx(rho + eta, abs=1e-5)
    assert L.stationary(1e7, eta).eps_g == pytest.approx(0, abs=1e-5)  # the optimal beta is eta
    # rate-distortion at infinite data: the single-component Gaussian RD function
    s = L.stationary(1e7, 0.4)
    assert s.train_distortion == pytest.approx(
        -0.5 * (rho + eta) * (1 - math.exp(-2 * s.train_rate)), rel=1e-5
    )


@pytest.mark.parametrize(
    "alpha,train_r,train_d,test_r,test_d",
    [(0.5, 2.60, -2.48, 1.16, -0.41), (2, 2.09, -1.42, 1.47, -0.62), (16, 1.91, -1.03, 1.82, -0.91)],
)
def test_rate_distortion_at_beta_0_05_matches_spec(alpha, train_r, train_d, test_r, test_d):
    s = L.stationary(alpha, 0.05)
    got = (s.train_rate, s.train_distortion, s.test_rate, s.test_distortion)
    assert got == pytest.approx((train_r, train_d, test_r, test_d), abs=0.006)


def test_error_peaks_at_the_bbp_point():
    alphas = [0.25, 0.5, 0.8, 1.0, 1.25, 2.0, 4.0]
    errors = [L.stationary(a, 0.5).eps_g for a in alphas]
    assert alphas[errors.index(max(errors))] == 1.0


def test_direct_optimisation_finds_the_closed_form():
    generator = torch.Generator().manual_seed(0)
    cov = S.sample_covariance(16, 400, generator)
    sim, theory = S.fit(cov, 16, 1.0, generator), L.stationary(16, 1.0)
    assert sim["q"] == pytest.approx(theory.q, rel=0.05)
    assert sim["v"] == pytest.approx(theory.v, rel=0.05)
    assert abs(sim["m"]) == pytest.approx(theory.m, abs=0.05)
    assert sim["test_rate"] == pytest.approx(theory.test_rate, rel=0.1)


def test_direct_optimisation_collapses_above_the_threshold_only():
    generator = torch.Generator().manual_seed(1)
    cov = S.sample_covariance(4, 300, generator)
    beta_c = L.collapse_threshold(4)
    assert S.fit(cov, 4, beta_c + 0.3, generator)["q"] < S.COLLAPSED_Q
    assert S.fit(cov, 4, beta_c - 0.3, generator)["q"] > 0.1


def test_simulate_rows_pair_each_fit_with_its_prediction():
    rows = S.simulate(60, alphas=(2.0,), betas=(0.5, 2.5), seeds=(0,))
    assert [(r["alpha"], r["beta"]) for r in rows] == [(2.0, 0.5), (2.0, 2.5)]
    assert rows[1]["theory_collapsed"] and not rows[0]["theory_collapsed"]
    assert rows[0]["phase"] in ("learning", "overlearning") and rows[1]["phase"] == "regularised"


def test_tables_round_trip_and_refuse_tampering(tmp_path):
    rows = [{"alpha": 0.5, "beta": 1, "collapsed": True, "phase": "learning", "m": None}]
    folder = store.save_table("demo", {"dims": 10, "alphas": (0.5,)}, rows, {"seconds": 1}, tmp_path)
    table = store.load_table("demo", {"dims": 10, "alphas": (0.5,)}, tmp_path)
    assert table.rows == rows and table.provenance == {"seconds": 1}
    assert store.load_table("demo", {"dims": 11, "alphas": (0.5,)}, tmp_path) is None
    (folder / "config.json").write_text(
        (folder / "config.json").read_text().replace('"dims": 10', '"dims": 12')
    )
    with pytest.raises(store.StoreError, match="delete it to recompute"):
        store.load_table("demo", {"dims": 10, "alphas": (0.5,)}, tmp_path)
