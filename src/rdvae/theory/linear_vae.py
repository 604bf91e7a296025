"""The linear VAE on spiked-covariance data in closed form (Ichikawa & Hukushima 2023; SPEC g).

Data: x = sqrt(rho/N) W0 c + sqrt(eta) xi in N dimensions, c ~ N(0, 1), xi ~ N(0, I_N), with
||W0||^2 = N, so the population covariance is C = rho u0 u0^T + eta I (u0 = W0/sqrt(N)).  n = alpha N
training samples.  Model (k = k* = 1): encoder mean mu(x) = W~ x / sqrt(N), a data-independent
encoder variance v, decoder mean W z / sqrt(N) with unit Gaussian noise, prior N(0, 1), and the
regularised beta-objective with weight decay lambda/2 (||W||^2 + ||W~||^2) on the sum over samples.

The loss depends on the data only through the sample covariance C^ = X^T X / n, so the minimiser
aligns both weights with C^'s top eigenvector u^ (eigenvalue l).  With d = W/sqrt(N) = D u^,
e = W~^T/sqrt(N) = A u^ and gamma = lambda/alpha, stationarity reads (SPEC g.2, derived there)

    D = A l / (A^2 l + v + gamma),   A = D l / (l D^2 + beta l + gamma),   v = beta / (beta + D^2),

which reduces to one equation g(P) = u(P)^2 P l + beta/(beta + P) + gamma - u(P) l = 0 in P = D^2,
u(P) = l / (l (P + beta) + gamma), A = u(P) D.  If g(0) >= 0 the only solution is posterior collapse
(A = D = 0, v = 1); g(0) = 0 gives the collapse threshold

    beta_c(alpha) = l / (1 + lambda/alpha) - (lambda/alpha) / l.

In the proportional limit (N, n -> infinity at fixed alpha) l and the overlap o^2 = <u^, u0>^2 are
the spiked-covariance (BBP) values, with the transition at alpha = (eta/rho)^2:
for alpha > (eta/rho)^2, l = (rho + eta)(1 + eta/(alpha rho)) and
o^2 = (1 - eta^2/(alpha rho^2)) / (1 + eta/(alpha rho)); otherwise l = eta (1 + 1/sqrt(alpha))^2, o^2 = 0.
Order parameters: q = D^2, m = D o, q~ = A^2, m~ = A o; signal-recovery error
eps_g = rho - 2 sqrt(rho) |m| + q.
Rate and distortion per sample ("Delta" drops the trivial 1/2 tr term), on the training set with l and
on the population with l_t = eta + rho o^2:  R = 1/2 (A^2 l + v - log v - 1),
Delta D = 1/2 [-2 A D l + (A^2 l + v) D^2].
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

DEFAULTS = {"rho": 1.0, "eta": 1.0, "lam": 1.0}  # the authors' code defaults (SPEC g.1)


def spectrum(alpha: float, rho: float = 1.0, eta: float = 1.0) -> tuple[float, float]:
    """(top eigenvalue l of C^, squared overlap o^2 of its eigenvector with the spike), N -> infinity."""
    if alpha <= 0:
        raise ValueError(f"alpha must be positive, got {alpha}")
    if alpha > (eta / rho) ** 2:
        ratio = eta / (alpha * rho)
        return (rho + eta) * (1 + ratio), (1 - eta**2 / (alpha * rho**2)) / (1 + ratio)
    return eta * (1 + 1 / math.sqrt(alpha)) ** 2, 0.0


def collapse_threshold(alpha: float, rho: float = 1.0, eta: float = 1.0, lam: float = 1.0) -> float:
    """beta_c(alpha): the posterior collapses for every beta >= beta_c."""
    ell, _ = spectrum(alpha, rho, eta)
    gamma = lam / alpha
    return ell / (1 + gamma) - gamma / ell


@dataclass(frozen=True)
class LinearVaeState:
    """The stationary point at (alpha, beta) and what it implies."""

    alpha: float
    beta: float
    ell: float  # top eigenvalue of the sample covariance
    overlap_sq: float  # o^2
    decoder: float  # D
    encoder: float  # A
    v: float  # encoder variance
    collapsed: bool
    m: float
    q: float
    eps_g: float
    train_rate: float
    train_distortion: float  # Delta D
    test_rate: float
    test_distortion: float

    def as_dict(self) -> dict:
        return asdict(self)


def rate_distortion(encoder: float, decoder: float, v: float, ell: float) -> tuple[float, float]:
    """(R, Delta D) per sample for weights (A, D, v) on data whose variance along u^ is ``ell``."""
    rate = 0.5 * (encoder**2 * ell + v - math.log(v) - 1)
    distortion = 0.5 * (-2 * encoder * decoder * ell + (encoder**2 * ell + v) * decoder**2)
    return rate, distortion


def _solve(ell: float, beta: float, gamma: float) -> float:
    """The largest root P > 0 of g(P), or 0 when g(0) >= 0 (collapse)."""

    def g(p: float) -> float:
        u = ell / (ell * (p + beta) + gamma)
        return u * u * p * ell + beta / (beta + p) + gamma - u * ell

    if g(0.0) >= 0:
        return 0.0
    high = max(1.0, ell)
    while g(high) < 0:  # g -> 1 + gamma > 0 as P -> infinity
        high *= 2
    low = 0.0
    for _ in range(200):  # bisection to float precision
        mid = 0.5 * (low + high)
        low, high = (mid, high) if g(mid) < 0 else (low, mid)
    return 0.5 * (low + high)


def stationary(
    alpha: float, beta: float, rho: float = 1.0, eta: float = 1.0, lam: float = 1.0
) -> LinearVaeState:
    """The closed-form stationary point (A, D, v) at sample ratio ``alpha`` and ``beta``."""
    if beta <= 0:
        raise ValueError(f"beta must be positive, got {beta}")
    ell, overlap_sq = spectrum(alpha, rho, eta)
    gamma = lam / alpha
    p = _solve(ell, beta, gamma)
    decoder = math.sqrt(p)
    encoder = ell / (ell * (p + beta) + gamma) * decoder
    v = beta / (beta + p)
    m = decoder * math.sqrt(overlap_sq)
    train = rate_distortion(encoder, decoder, v, ell)
    test = rate_distortion(encoder, decoder, v, eta + rho * overlap_sq)
    return LinearVaeState(
        alpha=alpha, beta=beta, ell=ell, overlap_sq=overlap_sq, decoder=decoder, encoder=encoder, v=v,
        collapsed=p == 0.0, m=m, q=p, eps_g=rho - 2 * math.sqrt(rho) * abs(m) + p,
        train_rate=train[0], train_distortion=train[1], test_rate=test[0], test_distortion=test[1],
    )  # fmt: skip


def phase(state: LinearVaeState, rho: float = 1.0) -> str:
    """'regularised' (collapsed), 'learning' (eps_g < rho) or 'overlearning' (worse than collapse)."""
    if state.collapsed:
        return "regularised"
    return "learning" if state.eps_g < rho else "overlearning"
