"""Estimators of paper sections 2 and 4.5, as pure tensor functions (SPEC d.1-d.4).

All quantities are in nats per example.  Shapes: ``x`` (..., D) pixel values in [0, 1]; ``logits``
(..., D); an encoder's diagonal Gaussian ``q(z|x) = N(mu, diag exp(logvar))`` with ``mu``, ``logvar``
(..., d); the prior is ``p(z) = N(0, I)``.

- rate           R(x) = KL(q(z|x) || p(z)) = 1/2 sum_i (mu_i^2 + sigma_i^2 - log sigma_i^2 - 1)
- distortion     D(x) = -E_q log p(x|z) = E_q sum_j BCE(x_j, sigmoid(logits_j(z)))   (Bernoulli)
- L_beta         = -D - beta R;  ELBO = L_1 = -D - R                                  (paper eq. 1, 6)
- log p(x)       importance-weighted bound with the encoder as proposal (Burda et al. 2016)
- I_q(x;z), KL(q(z)||p(z))   minibatch estimator of Esmaeili et al. (2019), SPEC d.4, with
  R = I_q + KL(q(z)||p(z)) (paper eq. 5), and the same quantities with the exact aggregate posterior
  q(z) = 1/N sum_n q(z|x_n) over all N points
- x*(z)          the output of the optimal (infinite-capacity) Bernoulli decoder, SPEC d.6
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

LOG_2PI = math.log(2 * math.pi)


def log_normal_diag(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, diag exp(logvar)), summed over the last dimension (broadcasting)."""
    return -0.5 * ((z - mu) ** 2 * torch.exp(-logvar) + logvar + LOG_2PI).sum(-1)


def log_q_from_noise(noise: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log q(z|x) at its own sample z = mu + sigma * eps, from the ``noise`` eps that drew it, shape (...):

        log q(z|x) = log N(eps; 0, I) - 1/2 sum_i logvar_i,

    since (z - mu) / sigma = eps exactly.  Free of the rounding of z: where sigma << |mu| (an encoder
    trained without the marginal KL reaches sigma ~ 1e-19) z rounds to mu in float32, and
    :func:`log_normal_diag` of z would lose the eps^2 term (d/2 nats on average) or read 0 * inf = NaN.
    Its gradients equal those through z (d/dmu = 0, d/dlogvar_i = -1/2)."""
    return log_standard_normal(noise) - 0.5 * logvar.sum(-1)


def log_q_at_sample(
    z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, noise: torch.Tensor | None
) -> torch.Tensor:
    """log q(z|x) at its own sample z, in float64, shape (...): :func:`log_q_from_noise` where the
    ``noise`` that drew z is given, else :func:`log_normal_diag` of z."""
    if noise is None:
        return log_normal_diag(z.double(), mu.double(), logvar.double())
    return log_q_from_noise(noise.double(), logvar.double())


def log_standard_normal(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I), summed over the last dimension."""
    return -0.5 * (z**2 + LOG_2PI).sum(-1)


def rate(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Analytic KL(N(mu, diag exp(logvar)) || N(0, I)), shape (...)."""
    return 0.5 * (mu**2 + logvar.exp() - logvar - 1).sum(-1)


def bernoulli_nll(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """-log p(x|z) for a Bernoulli decoder on soft targets: sum_j BCE-with-logits, shape (...)."""
    return F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none").sum(-1)


def reparameterise(mu: torch.Tensor, logvar: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """z = mu + sigma * eps for given standard-normal ``noise`` of the same shape."""
    return mu + torch.exp(0.5 * logvar) * noise


def beta_objective(distortion: torch.Tensor, rate_: torch.Tensor, beta: float | torch.Tensor) -> torch.Tensor:
    """L_beta = -D - beta R (paper eq. 6)."""
    return -distortion - beta * rate_


def importance_weighted_log_px(log_weights: torch.Tensor) -> torch.Tensor:
    """log p_hat(x) = logsumexp_k w_k - log K from log weights (K, ...) = log p(x,z_k) - log q(z_k|x)."""
    return torch.logsumexp(log_weights, dim=0) - math.log(log_weights.shape[0])


def iwae_log_px(
    mu: torch.Tensor,
    logvar: torch.Tensor,
    log_likelihood: Callable[[torch.Tensor], torch.Tensor],
    samples: int,
    generator: torch.Generator | None = None,
    chunk: int = 100,
) -> torch.Tensor:
    """Importance-weighted estimate of log p(x) with proposal q(z|x) = N(mu, diag exp(logvar)).

    ``mu``, ``logvar`` have shape (..., d) (any leading batch dimensions: examples, members);
    ``log_likelihood(z)`` maps z of shape (k, ..., d) to log p(x|z) of shape (k, ...).  Samples are
    drawn ``chunk`` at a time and combined with a running logsumexp, so memory is bounded by one chunk
    whatever K is.  With the exact posterior as proposal every weight equals p(x) and the estimate is
    exact for any K; otherwise it is a lower bound that tightens as K grows.  Returns shape (...).

    The proposal density is taken from the noise (:func:`log_q_from_noise`), not from z: where sigma is
    far below mu's float32 spacing (logvar < -88), z rounds to mu.
    """
    running = torch.full(mu.shape[:-1], -math.inf, device=mu.device, dtype=mu.dtype)
    for start in range(0, samples, chunk):
        k = min(chunk, samples - start)
        noise = torch.randn((k, *mu.shape), generator=generator, device=mu.device, dtype=mu.dtype)
        z = reparameterise(mu, logvar, noise)  # (k, ..., d)
        log_q = log_q_from_noise(noise, logvar)  # (k, ...)
        log_w = log_likelihood(z) + log_standard_normal(z) - log_q  # (k, ...)
        running = torch.logaddexp(running, torch.logsumexp(log_w, dim=0))
    return running - math.log(samples)


def log_q_pairs(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log q(z_a | x_b) for every pair of a sample z_a (..., A, d) and an encoding mu_b, logvar_b
    (..., B, d): shape (..., A, B), in float64.

    One GEMM from the expansion log q(z|x_b) = -1/2 [z^2 . p_b - 2 z . (mu_b p_b) + (mu_b^2 . p_b +
    sum logvar_b + d log 2 pi)] with p = 1/sigma^2, instead of an (..., A, B, d) tensor; in float64
    because the terms cancel when sigma is small.
    """
    z64, mu64, logvar64 = z.double(), mu.double(), logvar.double()
    precision = torch.exp(-logvar64)  # (..., B, d)
    constant = (mu64**2 * precision).sum(-1) + logvar64.sum(-1) + z.shape[-1] * LOG_2PI  # (..., B)
    quadratic = z64**2 @ precision.transpose(-1, -2) - 2 * z64 @ (mu64 * precision).transpose(-1, -2)
    return -0.5 * (quadratic + constant[..., None, :])  # (..., A, B)


def mi_and_marginal_kl(
    z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, n_data: int, noise: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Minibatch estimates of I_q(x;z) and KL(q(z)||p(z)) (Esmaeili et al. 2019; SPEC d.4).

    ``z`` (..., B, d) holds one sample z_b ~ q(z|x_b) for each of B items drawn uniformly without
    replacement from the N = ``n_data`` points defining q(x); ``mu``, ``logvar`` (..., B, d) are their
    encodings; leading dimensions (stacked members) are independent batches.  The aggregate posterior
    at z_b is estimated as

        q_hat(z_b) = (1/N) q(z_b|x_b) + (N-1)/(N(B-1)) sum_{b' != b} q(z_b|x_b')

    (the own point has weight exactly 1/N; the other B-1 items stand in for the other N-1 points), and

        I_hat = mean_b [log q(z_b|x_b) - log q_hat(z_b)],   KL_hat = mean_b [log q_hat(z_b) - log p(z_b)],

    each of shape (...), computed in float64 (:func:`log_q_pairs`).  Consequences, exact for every
    batch: I_hat <= log N, and I_hat + KL_hat equals the single-sample Monte-Carlo rate
    mean_b [log q(z_b|x_b) - log p(z_b)].  Differentiable: the objective variants of appendix A-8
    (SPEC d.5) train on it.  Pass the ``noise`` that drew z to take the own terms log q(z_b|x_b) from
    it (:func:`log_q_at_sample`), exact even where z has rounded to mu.
    """
    batch = z.shape[-2]
    if batch < 2 or n_data < batch:
        raise ValueError(f"need 2 <= batch ({batch}) <= n_data ({n_data})")
    own = log_q_at_sample(z, mu, logvar, noise)  # (..., B): log q(z_b|x_b), directly
    log_q = torch.diagonal_scatter(log_q_pairs(z, mu, logvar), own, dim1=-2, dim2=-1)  # (..., B, B)
    log_weight = torch.full(
        (batch, batch), math.log((n_data - 1) / (n_data * (batch - 1))), dtype=log_q.dtype, device=z.device
    )
    log_weight.diagonal().fill_(-math.log(n_data))
    log_q_marginal = torch.logsumexp(log_q + log_weight, dim=-1)  # (..., B)
    mi = (own - log_q_marginal).mean(-1)
    marginal_kl = (log_q_marginal - log_standard_normal(z.double())).mean(-1)
    return mi.to(z.dtype), marginal_kl.to(z.dtype)


def exact_mi_and_marginal_kl(
    z: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    chunk: int = 512,
    noise: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """I_q(x;z) and KL(q(z)||p(z)) with the exact aggregate posterior over all N points (SPEC d.4).

    ``z`` (N, d) holds one sample z_n ~ q(z|x_n) per point; ``mu``, ``logvar`` (N, d) are the N
    encodings.  With q(z_n) = (1/N) sum_m q(z_n|x_m) computed over every point (no minibatch),

        I = mean_n [log q(z_n|x_n) - log q(z_n)],   KL = mean_n [log q(z_n) - log p(z_n)],

    Monte Carlo only in the one z per point, so free of the minibatch estimator's upward Jensen bias.
    It equals :func:`mi_and_marginal_kl` with B = N.  log q(z_n|x_m) for all pairs is one float64
    GEMM per ``chunk`` rows (:func:`log_q_pairs`), its own terms m = n computed directly: where sigma
    is tiny (an encoder trained without the marginal KL reaches sigma ~ 1e-19) the expansion's
    rounding, eps (z^2 + mu^2) / sigma^2, dwarfs the own term, whereas the other pairs, far apart in
    units of sigma, stay hugely negative either way.  So I <= log N holds exactly, as it must.  With
    the ``noise`` that drew z the own terms are exact even where z has rounded to mu
    (:func:`log_q_at_sample`).  Cost O(N^2 d): ~5 s for N = 16,384 on one core.
    """
    n = z.shape[0]
    z64 = z.double()
    own = log_q_at_sample(z, mu, logvar, noise)  # (N,): log q(z_n|x_n), directly
    log_q_marginal = torch.empty(n, dtype=torch.float64, device=z.device)
    for start in range(0, n, chunk):
        block = log_q_pairs(z[start : start + chunk], mu, logvar)  # (c, N): [i, m] = log q(z_start+i|x_m)
        rows = torch.arange(block.shape[0], device=z.device)
        block[rows, start + rows] = own[start : start + chunk]  # own terms, free of the expansion's rounding
        log_q_marginal[start : start + chunk] = torch.logsumexp(block, dim=1) - math.log(n)
    mi = (own - log_q_marginal).mean()
    marginal_kl = (log_q_marginal - log_standard_normal(z64)).mean()
    return mi.to(z.dtype), marginal_kl.to(z.dtype)


def infinite_capacity_decoder(
    z: torch.Tensor,
    train_mu: torch.Tensor,
    train_logvar: torch.Tensor,
    train_images: torch.Tensor,
    top: int = 3,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The optimal Bernoulli decoder's output at codes z, and its ``top`` largest weights (SPEC d.6).

    For a fixed encoder, the decoder maximising E_{q(x,z)} log p(x|z) outputs at z the posterior-
    weighted mean of the training images: x*(z) = sum_n w_n(z) x_n, w_n(z) = q(z|x_n) / sum_m q(z|x_m).
    Shapes: z (E, d); train_mu, train_logvar (N, d); train_images (N, D).  Returns x* (E, D) and the
    largest weights in decreasing order (E, top); a first weight near 1 means x* is one training image.
    The log weights are computed in float64: in float32, 1/sigma^2 overflows once logvar < -88.7 and
    every weight would read exp(-inf) / sum exp(-inf) = NaN.
    """
    z64, mu64, logvar64 = z.double(), train_mu.double(), train_logvar.double()
    log_w = log_normal_diag(z64[:, None, :], mu64[None], logvar64[None])  # (E, N)
    weights = torch.softmax(log_w, dim=1).to(train_images.dtype)
    return weights @ train_images, weights.topk(min(top, weights.shape[1]), dim=1).values
