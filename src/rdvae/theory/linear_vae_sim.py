"""Direct optimisation of the linear VAE of :mod:`rdvae.theory.linear_vae` at finite N (SPEC g.1).

The check of the closed form that does not assume it: draw n = alpha N samples of the spiked-
covariance model, form C^ = X^T X / n, and minimise the exact per-sample loss over w, w~ (N-vectors:
decoder and encoder weights for k = 1) and log v with L-BFGS in float64:

    L = 1/2 tr C^ - w.C^w~/N + 1/2 q (M + v) + beta/2 (M + v - log v) + lambda/(2 alpha N) (|w|^2 + |w~|^2),

where M = w~.C^w~/N is the mean squared code and q = |w|^2/N (the exact Gaussian expectation of the
authors' loss, divided by n).  Initial weights are N(0, 1), as in the authors' code.  Rate and
distortion are then measured on the training set (C^) and on the population (C = rho u0 u0^T + eta I,
exactly, no test sample needed).
"""

from __future__ import annotations

import math

import torch

from rdvae.theory.linear_vae import phase, stationary


def sample_covariance(
    alpha: float, dims: int, generator: torch.Generator, rho: float = 1.0, eta: float = 1.0
) -> torch.Tensor:
    """C^ (dims, dims) of n = round(alpha dims) samples x = sqrt(rho/N) W0 c + sqrt(eta) xi, W0 = 1."""
    n = max(1, round(alpha * dims))
    c = torch.randn(n, 1, generator=generator, dtype=torch.float64)
    x = math.sqrt(rho / dims) * c.expand(n, dims) + math.sqrt(eta) * torch.randn(
        n, dims, generator=generator, dtype=torch.float64
    )  # (n, N): the spike direction is W0 / sqrt(N) = 1 / sqrt(N)
    return x.T @ x / n


def _measures(w, w_enc, log_v, cov_apply, dims) -> tuple[float, float]:
    """(R, Delta D) per sample of the weights on data whose covariance acts as ``cov_apply``."""
    c = cov_apply(w_enc)
    code_sq, cross, q, v = w_enc @ c / dims, w @ c / dims, w @ w / dims, log_v.exp()
    rate = 0.5 * (code_sq + v - log_v - 1)
    distortion = -cross + 0.5 * (code_sq + v) * q
    return float(rate), float(distortion)


def fit(
    cov: torch.Tensor,
    alpha: float,
    beta: float,
    generator: torch.Generator,
    rho: float = 1.0,
    eta: float = 1.0,
    lam: float = 1.0,
    max_iter: int = 3000,
) -> dict:
    """Minimise the loss on ``cov`` = C^ from N(0, 1) weights; order parameters, eps_g, R and D."""
    dims = cov.shape[0]
    w = torch.randn(dims, generator=generator, dtype=torch.float64).requires_grad_()
    w_enc = torch.randn(dims, generator=generator, dtype=torch.float64).requires_grad_()
    log_v = torch.zeros((), dtype=torch.float64, requires_grad=True)
    trace = float(cov.diagonal().sum())
    optimiser = torch.optim.LBFGS(
        [w, w_enc, log_v], lr=1, max_iter=max_iter, history_size=50, line_search_fn="strong_wolfe",
        tolerance_grad=1e-12, tolerance_change=1e-15,
    )  # fmt: skip

    def closure():
        optimiser.zero_grad()
        c = cov @ w_enc
        code_sq, cross, q, v = w_enc @ c / dims, w @ c / dims, w @ w / dims, log_v.exp()
        loss = (
            0.5 * trace - cross + 0.5 * q * (code_sq + v) + 0.5 * beta * (code_sq + v - log_v)
            + lam / (2 * alpha * dims) * (w @ w + w_enc @ w_enc)
        )  # fmt: skip
        loss.backward()
        return loss

    optimiser.step(closure)
    w, w_enc, log_v = w.detach(), w_enc.detach(), log_v.detach()
    with torch.no_grad():
        u0 = torch.full((dims,), 1 / math.sqrt(dims), dtype=torch.float64)
        m, q = float(w @ u0) / math.sqrt(dims), float(w @ w) / dims
        train = _measures(w, w_enc, log_v, lambda a: cov @ a, dims)
        test = _measures(w, w_enc, log_v, lambda a: rho * u0 * (u0 @ a) + eta * a, dims)
    return {
        "m": m, "q": q, "v": math.exp(float(log_v)), "eps_g": rho - 2 * math.sqrt(rho) * abs(m) + q,
        "train_rate": train[0], "train_distortion": train[1],
        "test_rate": test[0], "test_distortion": test[1],
    }  # fmt: skip


COLLAPSED_Q = 1e-3  # q = |w|^2/N below this: the decoder carries no signal (theory: exactly 0)


def simulate(
    dims: int,
    alphas,
    betas,
    seeds,
    rho: float = 1.0,
    eta: float = 1.0,
    lam: float = 1.0,
    progress=None,
) -> list[dict]:
    """One row per (alpha, beta, seed): the simulated fit beside the closed form's prediction."""
    rows = []
    for alpha in alphas:
        for seed in seeds:
            generator = torch.Generator().manual_seed(int(seed) * 1_000_003 + round(alpha * 1000))
            cov = sample_covariance(alpha, dims, generator, rho, eta)
            for beta in betas:
                sim = fit(cov, alpha, beta, generator, rho, eta, lam)
                theory = stationary(alpha, beta, rho, eta, lam)
                rows.append({
                    "alpha": alpha, "beta": beta, "seed": seed, "dims": dims, **sim,
                    "collapsed": sim["q"] < COLLAPSED_Q, "phase": phase(theory, rho),
                    "theory_collapsed": theory.collapsed, "theory_eps_g": theory.eps_g, "theory_q": theory.q,
                    "theory_m": theory.m, "theory_v": theory.v,
                })  # fmt: skip
            if progress is not None:
                progress(f"alpha={alpha:g} seed={seed}")
    return rows
