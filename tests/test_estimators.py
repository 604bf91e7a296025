"""Estimators against independent truths: analytic KL, an analytic linear-Gaussian log p(x), and an
exact full-N computation of the aggregate posterior."""

import math

import numpy as np
import pytest
import torch
from torch.distributions import Normal, kl_divergence

from rdvae import estimators as E


@pytest.fixture(autouse=True)
def float64():
    """These checks compare against closed forms to 1e-10: run them in double precision."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def test_rate_is_the_analytic_kl():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(7, 10, generator=g), torch.randn(7, 10, generator=g)
    expected = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(-1)
    torch.testing.assert_close(E.rate(mu, logvar), expected)
    assert torch.all(E.rate(torch.zeros(3, 10), torch.zeros(3, 10)) == 0)


def test_bernoulli_nll_on_soft_targets():
    g = torch.Generator().manual_seed(1)
    x, logits = torch.rand(5, 30, generator=g), torch.randn(5, 30, generator=g)
    p = torch.sigmoid(logits)
    expected = -(x * p.log() + (1 - x) * (1 - p).log()).sum(-1)
    torch.testing.assert_close(E.bernoulli_nll(x, logits), expected)


def test_log_normal_diag_matches_torch_distributions():
    g = torch.Generator().manual_seed(2)
    z, mu, logvar = (torch.randn(4, 6, generator=g) for _ in range(3))
    expected = Normal(mu, (0.5 * logvar).exp()).log_prob(z).sum(-1)
    torch.testing.assert_close(E.log_normal_diag(z, mu, logvar), expected)


class LinearGaussian:
    """p(z) = N(0, I_d), p(x|z) = N(Wz + b, s^2 I_D) with orthogonal columns in W, so that the exact
    posterior is diagonal; log p(x) = log N(x; b, W W^T + s^2 I) in closed form."""

    def __init__(self, data_dim=8, latent_dim=3, noise=0.5, seed=0):
        g = torch.Generator().manual_seed(seed)
        q, _ = torch.linalg.qr(torch.randn(data_dim, latent_dim, generator=g))
        self.W = q * torch.tensor([2.0, 1.0, 0.5])[:latent_dim]
        self.b = torch.randn(data_dim, generator=g)
        self.s2 = noise**2

    def log_px(self, x):
        cov = self.W @ self.W.T + self.s2 * torch.eye(len(self.b))
        return torch.distributions.MultivariateNormal(self.b, cov).log_prob(x)

    def log_likelihood(self, x, z):  # x (n, D), z (k, n, d) -> (k, n)
        mean = z @ self.W.T + self.b
        return Normal(mean, math.sqrt(self.s2)).log_prob(x).sum(-1)

    def posterior(self, x):
        precision = 1 + (self.W**2).sum(0) / self.s2  # diagonal, since W^T W is
        mu = ((x - self.b) @ self.W / self.s2) / precision
        return mu, (-precision.log()).expand_as(mu)


def test_iwae_is_exact_with_the_true_posterior():
    model = LinearGaussian()
    x = torch.randn(6, 8, generator=torch.Generator().manual_seed(3))
    mu, logvar = model.posterior(x)
    for k in (1, 7):
        estimate = E.iwae_log_px(
            mu, logvar, lambda z: model.log_likelihood(x, z), k, torch.Generator().manual_seed(k)
        )
        torch.testing.assert_close(estimate, model.log_px(x), rtol=0, atol=1e-10)


def test_iwae_bound_tightens_with_k_and_converges():
    model = LinearGaussian()
    x = torch.randn(6, 8, generator=torch.Generator().manual_seed(4))
    mu, logvar = model.posterior(x)
    mu, logvar = mu + 0.3, logvar + 0.4  # a worse proposal
    truth = model.log_px(x)
    gaps = []
    for k in (1, 10, 5000):
        likelihood = lambda z: model.log_likelihood(x, z)  # noqa: E731
        est = E.iwae_log_px(mu, logvar, likelihood, k, torch.Generator().manual_seed(5), chunk=64)
        gaps.append((truth - est).mean().item())
    assert gaps[0] > gaps[1] > gaps[2] > -0.01
    assert gaps[2] < 0.02


def test_iwae_is_finite_and_exact_for_a_near_degenerate_posterior():
    """logvar = -100 in float32 (an encoder trained without the marginal KL gets there): sigma = e^-50 is far
    below mu's float32 spacing, so z = mu + sigma eps rounds to mu, and 1/sigma^2 = e^100 overflows float32.
    With log p(x|z) = 0 each log weight is log p(mu) - log N(eps; 0, I) + 1/2 sum logvar, in closed form."""
    # (2, 3), in float32, not the fixture's float64
    mu = torch.tensor([[0.7, -1.3, 0.2], [2.0, 0.5, -0.4]], dtype=torch.float32)
    logvar = torch.full_like(mu, -100.0)
    k = 5
    estimate = E.iwae_log_px(
        mu, logvar, lambda z: torch.zeros(z.shape[:-1], dtype=z.dtype), k, torch.Generator().manual_seed(0), k
    )
    # the estimator's own draws
    noise = torch.randn((k, *mu.shape), generator=torch.Generator().manual_seed(0), dtype=mu.dtype).double()
    log_w = E.log_standard_normal(mu.double()) - E.log_standard_normal(noise) + 0.5 * logvar.double().sum(-1)
    expected = torch.logsumexp(log_w, 0) - math.log(k)  # (2,)
    assert torch.isfinite(estimate).all()
    torch.testing.assert_close(estimate.double(), expected, rtol=1e-6, atol=0)


def _codes(n, spread, seed):
    g = torch.Generator().manual_seed(seed)
    mu = torch.randn(n, 10, generator=g)
    logvar = torch.full((n, 10), 2 * math.log(spread))
    z = E.reparameterise(mu, logvar, torch.randn(n, 10, generator=g))
    return z, mu, logvar


@pytest.mark.parametrize("spread", [1e-3, 0.3, 1.0, 3.0])
def test_mi_never_exceeds_log_n_and_decomposes_the_mc_rate(spread):
    n_data = 16_384
    z, mu, logvar = _codes(512, spread, seed=6)
    mi, mkl = E.mi_and_marginal_kl(z, mu, logvar, n_data)
    assert mi.item() <= math.log(n_data) + 1e-12
    mc_rate = (E.log_normal_diag(z, mu, logvar) - E.log_standard_normal(z)).mean()
    torch.testing.assert_close(mi + mkl, mc_rate, rtol=0, atol=1e-10)
    if spread == 1e-3:  # near-deterministic, well-separated codes: I saturates at log N
        assert mi.item() == pytest.approx(math.log(n_data), abs=1e-3)


def _exact_full_n(z, mu, logvar):
    """I and marginal KL with q(z) = (1/N) sum_n q(z|x_n) computed over all N points, in numpy."""
    z, mu, var = z.numpy(), mu.numpy(), np.exp(logvar.numpy())
    log_norm = -0.5 * np.log(2 * np.pi * var).sum(-1)  # (N,)
    log_own, log_marginal = [], []
    for rows in np.array_split(np.arange(len(z)), max(1, len(z) // 256)):  # (rows, N, dims) at a time
        log_q = log_norm - 0.5 * (((z[rows, None] - mu[None]) ** 2) / var[None]).sum(-1)  # (rows, N)
        log_own.append(log_q[np.arange(len(rows)), rows])
        top = log_q.max(axis=1, keepdims=True)
        log_marginal.append(
            (top + np.log(np.exp(log_q - top).sum(axis=1, keepdims=True)))[:, 0] - np.log(len(z))
        )
    log_own, log_marginal = np.concatenate(log_own), np.concatenate(log_marginal)
    log_prior = -0.5 * (z**2 + np.log(2 * np.pi)).sum(-1)
    return (log_own - log_marginal).mean(), (log_marginal - log_prior).mean()


def test_batch_equal_to_the_whole_set_is_the_exact_computation():
    z, mu, logvar = _codes(300, 0.7, seed=7)
    mi, mkl = E.mi_and_marginal_kl(z, mu, logvar, n_data=300)
    exact_mi, exact_mkl = _exact_full_n(z, mu, logvar)
    assert mi.item() == pytest.approx(exact_mi, abs=1e-9)
    assert mkl.item() == pytest.approx(exact_mkl, abs=1e-9)


def _mixed_codes(n, seed):
    """Codes with per-point spreads from 1e-3 to 3 (the range of trained encoders across beta), float64."""
    g = torch.Generator().manual_seed(seed)
    mu = torch.randn(n, 10, generator=g, dtype=torch.float64)
    logvar = 2 * torch.log(torch.logspace(-3, math.log10(3), n, dtype=torch.float64))[:, None].expand(n, 10)
    z = E.reparameterise(mu, logvar, torch.randn(n, 10, generator=g, dtype=torch.float64))
    return z, mu, logvar.contiguous()


def test_exact_information_matches_the_direct_pairwise_sum():
    z, mu, logvar = _mixed_codes(700, seed=12)
    mi, mkl = E.exact_mi_and_marginal_kl(z, mu, logvar, chunk=64)  # several chunks, a ragged last one
    exact_mi, exact_mkl = _exact_full_n(z, mu, logvar)
    assert mi.item() == pytest.approx(exact_mi, abs=1e-9)
    assert mkl.item() == pytest.approx(exact_mkl, abs=1e-9)
    mc_rate = (E.log_normal_diag(z, mu, logvar) - E.log_standard_normal(z)).mean()
    torch.testing.assert_close(mi + mkl, mc_rate, rtol=0, atol=1e-10)
    assert mi.item() <= math.log(700)


def test_exact_information_is_the_minibatch_estimator_with_the_whole_set():
    z, mu, logvar = _mixed_codes(256, seed=13)
    full = E.mi_and_marginal_kl(z, mu, logvar, n_data=256)
    exact = E.exact_mi_and_marginal_kl(z, mu, logvar, chunk=100)
    torch.testing.assert_close(exact, full, rtol=0, atol=1e-9)


def test_exact_information_limits():
    # one posterior shared by every point: z says nothing about x, so I = 0 and KL = the MC rate
    n = 300
    mu, logvar = torch.full((n, 10), 0.4, dtype=torch.float64), torch.full((n, 10), -1.0, dtype=torch.float64)
    z = E.reparameterise(
        mu, logvar, torch.randn(n, 10, generator=torch.Generator().manual_seed(14), dtype=torch.float64)
    )
    mi, _ = E.exact_mi_and_marginal_kl(z, mu, logvar)
    assert abs(mi.item()) < 1e-12
    # near-deterministic, well-separated codes: I saturates at log N (SPEC d.4), here in float32 input
    z, mu, logvar = (t.float() for t in _codes(2048, 1e-3, seed=15))
    mi, _ = E.exact_mi_and_marginal_kl(z, mu, logvar)
    assert mi.dtype == torch.float32
    assert mi.item() == pytest.approx(math.log(2048), abs=1e-4)


def test_information_stays_exact_for_near_deterministic_encoders():
    # sigma ~ 1e-19 (logvar -87), as an encoder trained without the marginal KL reaches, in float32:
    # z rounds to mu, the GEMM expansion's terms are ~1e38 and its rounding ~1e22 nats; the own term
    # must be computed directly, or I leaves [0, log N] (it did: -6e23 and 10.8 > log 16,384)
    g = torch.Generator().manual_seed(16)
    mu = (3 * torch.randn(4096, 10, generator=g, dtype=torch.float64)).float()
    logvar = torch.full((4096, 10), -87.0)
    z = E.reparameterise(mu, logvar, torch.randn(4096, 10, generator=g, dtype=torch.float64).float())
    mc_rate = (
        E.log_normal_diag(z.double(), mu.double(), logvar.double()) - E.log_standard_normal(z.double())
    ).mean()
    for mi, _ in (E.exact_mi_and_marginal_kl(z, mu, logvar, chunk=1000),
                    E.mi_and_marginal_kl(z[:512], mu[:512], logvar[:512], n_data=4096)):  # fmt: skip
        assert mi.item() == pytest.approx(math.log(4096), abs=1e-4)  # separated codes: saturated
    mi, mkl = E.exact_mi_and_marginal_kl(z, mu, logvar, chunk=1000)
    assert (mi.double() + mkl.double()).item() == pytest.approx(mc_rate.item(), rel=1e-6)


def test_the_noise_gives_the_own_terms_where_z_has_rounded_to_mu():
    # sigma ~ 1e-19 in float32: z == mu exactly, so log q(z|x) from z loses -1/2 sum eps^2 (~d/2 = 5 nats);
    # from the noise that drew z, I + KL is the true single-sample rate, by either estimator
    g = torch.Generator().manual_seed(17)
    mu = 1 + 3 * torch.rand(2048, 10, generator=g)  # |mu| >= 1: sigma * eps is far below its rounding
    logvar = torch.full((2048, 10), -87.0)
    noise = torch.randn(2048, 10, generator=g, dtype=torch.float64).float()
    z = E.reparameterise(mu, logvar, noise)
    assert torch.equal(z, mu)
    own = -0.5 * (noise.double() ** 2 + logvar.double() + math.log(2 * math.pi)).sum(-1)  # (N,)
    rate_from_noise = (own - E.log_standard_normal(z.double())).mean().item()
    rounded = (E.log_normal_diag(z.double(), mu.double(), logvar.double()) - own).mean().item()
    assert rounded == pytest.approx(0.5 * (noise.double() ** 2).sum(-1).mean().item(), rel=1e-9)
    assert 4 < rounded < 6
    for mi, mkl in (E.exact_mi_and_marginal_kl(z, mu, logvar, chunk=500, noise=noise),
                    E.mi_and_marginal_kl(z, mu, logvar, n_data=2048, noise=noise)):  # fmt: skip
        assert mi.item() == pytest.approx(math.log(2048), abs=1e-4)
        assert (mi.double() + mkl.double()).item() == pytest.approx(rate_from_noise, rel=1e-6)


def test_the_noise_changes_nothing_where_z_is_exact():
    # ordinary codes in float64: the own terms from z and from the noise agree, values and gradients
    z, mu, logvar = (t.double() for t in _codes(64, 1.0, seed=32))
    noise = (z - mu) / torch.exp(0.5 * logvar)
    torch.testing.assert_close(
        E.exact_mi_and_marginal_kl(z, mu, logvar, chunk=20, noise=noise),
        E.exact_mi_and_marginal_kl(z, mu, logvar, chunk=20),
        rtol=0,
        atol=1e-10,
    )
    gradients = []
    for given in (noise, None):
        m, lv = mu.clone().requires_grad_(), logvar.clone().requires_grad_()
        mi, mkl = E.mi_and_marginal_kl(E.reparameterise(m, lv, noise), m, lv, n_data=100, noise=given)
        gradients.append((mi, mkl, *torch.autograd.grad(mi + 2 * mkl, (m, lv))))
    torch.testing.assert_close(gradients[0], gradients[1], rtol=0, atol=1e-10)


def test_minibatch_average_agrees_with_the_full_set():
    n, batch = 4096, 512
    z, mu, logvar = _codes(n, 1.0, seed=8)
    exact_mi, exact_mkl = _exact_full_n(z, mu, logvar)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(9))
    estimates = [E.mi_and_marginal_kl(z[i], mu[i], logvar[i], n) for i in order.split(batch)]
    mi = np.mean([m.item() for m, _ in estimates])
    mkl = np.mean([k.item() for _, k in estimates])
    assert mi == pytest.approx(exact_mi, abs=0.15)  # upward Jensen bias of order 0.1 nats (SPEC d.4)
    assert mi >= exact_mi - 0.02
    assert mkl == pytest.approx(exact_mkl, abs=0.15)


def test_stacked_batches_are_estimated_independently():
    # (M, B, d): one batch per stacked member, as the A-8 objective variants train on
    members = [
        tuple(t.double() for t in _codes(64, spread, seed=20 + k)) for k, spread in enumerate((0.1, 1.0, 3.0))
    ]
    z, mu, logvar = (torch.stack(parts) for parts in zip(*members, strict=True))
    mi, mkl = E.mi_and_marginal_kl(z, mu, logvar, n_data=1000)
    assert mi.shape == mkl.shape == (3,)
    for k, (zk, muk, logvark) in enumerate(members):
        alone = E.mi_and_marginal_kl(zk, muk, logvark, n_data=1000)
        torch.testing.assert_close((mi[k], mkl[k]), alone, rtol=0, atol=1e-12)


def test_the_estimates_carry_gradients_to_the_encoder():
    z, mu, logvar = (t.double() for t in _codes(32, 1.0, seed=30))
    mu, logvar = mu.clone().requires_grad_(), logvar.clone().requires_grad_()
    noise = (z - mu.detach()) / torch.exp(0.5 * logvar.detach())
    mi, mkl = E.mi_and_marginal_kl(E.reparameterise(mu, logvar, noise), mu, logvar, n_data=100)
    (grad_mu,) = torch.autograd.grad(mi, mu, retain_graph=True)
    assert torch.isfinite(grad_mu).all() and grad_mu.abs().sum() > 0
    # finite difference of I_hat along a random direction of mu agrees with the gradient
    direction = torch.randn(mu.shape, generator=torch.Generator().manual_seed(31), dtype=mu.dtype)
    step = 1e-6
    with torch.no_grad():
        moved = [E.mi_and_marginal_kl(E.reparameterise(m, logvar, noise), m, logvar, 100)[0]
                 for m in (mu + step * direction, mu - step * direction)]  # fmt: skip
    assert ((moved[0] - moved[1]) / (2 * step)).item() == pytest.approx(
        (grad_mu * direction).sum().item(), rel=1e-5
    )


def test_mi_estimator_rejects_a_batch_larger_than_the_data():
    z, mu, logvar = _codes(8, 1.0, seed=10)
    with pytest.raises(ValueError, match="batch"):
        E.mi_and_marginal_kl(z, mu, logvar, n_data=4)


def test_infinite_capacity_decoder_limits():
    g = torch.Generator().manual_seed(11)
    train_mu = torch.randn(50, 10, generator=g) * 3
    images = torch.rand(50, 12, generator=g)
    # tight posteriors: a code at training point j's mean is decoded as image j, with weight 1
    tight = torch.full((50, 10), math.log(1e-4))
    optimal, weights = E.infinite_capacity_decoder(train_mu[[4, 17]], train_mu, tight, images)
    torch.testing.assert_close(optimal, images[[4, 17]])
    torch.testing.assert_close(weights, torch.tensor([[1.0, 0, 0], [1.0, 0, 0]]))
    # very broad posteriors: every training point equally likely, so x* is the mean image
    broad = torch.full((50, 10), math.log(1e6))
    optimal, weights = E.infinite_capacity_decoder(torch.zeros(3, 10), train_mu, broad, images, top=2)
    torch.testing.assert_close(optimal, images.mean(0).expand(3, -1), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(weights, torch.full((3, 2), 1 / 50), rtol=1e-4, atol=0)


def test_infinite_capacity_decoder_with_near_degenerate_posteriors():
    """logvar = -100: 1/sigma^2 overflows float32, yet a code near training point j is decoded as image j."""
    g = torch.Generator().manual_seed(12)
    train_mu = torch.randn(50, 10, generator=g, dtype=torch.float32)  # not the fixture's float64
    images = torch.rand(50, 12, generator=g, dtype=torch.float32)
    degenerate = torch.full((50, 10), -100.0, dtype=torch.float32)
    optimal, weights = E.infinite_capacity_decoder(train_mu[[4, 17]] + 1e-3, train_mu, degenerate, images)
    torch.testing.assert_close(optimal, images[[4, 17]])
    torch.testing.assert_close(weights, torch.tensor([[1.0, 0, 0], [1.0, 0, 0]], dtype=torch.float32))
