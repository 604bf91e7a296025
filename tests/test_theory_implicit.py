"""The deterministic approximation of the beta-VAE (SPEC f): Jacobians against forward-mode autodiff,
the objective's limits in beta, the linear-Gaussian case where the approximation is exact, and the
Frechet distance against closed forms."""

import math

import numpy as np
import pytest
import torch
from torch.func import jvp

from rdvae.estimators import rate
from rdvae.models import StackedVAE
from rdvae.theory import implicit as K


@pytest.mark.parametrize("arch", ["mlp1", "mlp3"])
def test_decoder_jacobian_matches_forward_mode_autodiff(arch):
    model = StackedVAE(arch, [0, 1], (1, 32, 32))
    z = torch.randn(2, 5, 10, generator=torch.Generator().manual_seed(0))
    logits, jacobian = K.decoder_jacobian(model, z)
    torch.testing.assert_close(logits, model.decode(z))
    for i in range(10):
        tangent = torch.zeros_like(z)
        tangent[..., i] = 1
        _, column = jvp(model.decode, (z,), (tangent,))
        torch.testing.assert_close(jacobian[..., i], column, rtol=1e-4, atol=1e-6)


def test_curvature_diagonal_and_off_diagonal_mass():
    g = torch.Generator().manual_seed(1)
    logits, jacobian = torch.randn(2, 3, 20, generator=g), torch.randn(2, 3, 20, 4, generator=g)
    full = K.curvature(logits, jacobian)
    torch.testing.assert_close(K.curvature_diagonal(logits, jacobian), full.diagonal(dim1=-2, dim2=-1))
    assert torch.all(K.off_diagonal_mass(torch.diag_embed(torch.rand(5, 4, generator=g) + 0.1)) == 0)
    matrix = torch.tensor([[2.0, 1.0], [1.0, 2.0]])
    assert K.off_diagonal_mass(matrix).item() == pytest.approx(2 / 8)


def test_the_deterministic_objective_tends_to_the_autoencoder_and_to_a_jacobian_penalty():
    model = StackedVAE("mlp1", [0], (1, 32, 32))
    x = torch.rand(1, 16, 1, 32, 32, generator=torch.Generator().manual_seed(2))
    mu, _ = model.encode(x)
    logits, jacobian = K.decoder_jacobian(model, mu)
    h = K.curvature_diagonal(logits, jacobian)
    ae = K.autoencoder_loss(model, x)
    tiny, huge = torch.tensor([1e-9]), torch.tensor([1e6])
    torch.testing.assert_close(K.deterministic_loss(model, x, tiny), ae, rtol=1e-6, atol=1e-4)  # beta -> 0
    penalty = (huge / 2 * mu.square().sum(-1) + h.sum(-1) / 2).mean(1)  # beta large: 1/2 sum_i h_i
    torch.testing.assert_close(K.deterministic_loss(model, x, huge), ae + penalty, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("beta", [0.05, 1.0, 20.0])
def test_the_approximation_is_exact_for_a_linear_gaussian_decoder(beta):
    g = torch.Generator().manual_seed(3)
    weight, bias, x = (torch.randn(*s, generator=g, dtype=torch.float64) for s in ((30, 6), (30,), (30,)))
    mu = torch.randn(6, generator=g, dtype=torch.float64)
    values = K.linear_gaussian_objectives(weight, bias, mu, x, noise_var=0.3, beta=beta)
    assert values["approximation, diagonal"] == pytest.approx(values["exact, diagonal"], rel=1e-12)
    assert values["approximation, full"] == pytest.approx(values["exact, full"], rel=1e-12)
    assert values["exact, full"] >= values["exact, diagonal"]  # Hadamard: the full family can only gain


def test_frechet_distance_of_gaussians():
    rng = np.random.default_rng(4)
    a = rng.standard_normal((20_000, 3))
    assert K.frechet_distance(a, a) == pytest.approx(0, abs=1e-9)
    shifted = rng.standard_normal((20_000, 3)) + np.array([1.0, 2.0, 0.0])  # ||m||^2 = 5, same covariance
    assert K.frechet_distance(a, shifted) == pytest.approx(5.0, abs=0.1)
    wider = 2 * rng.standard_normal((20_000, 3))  # tr(I + 4I - 2 * 2I) = 3
    assert K.frechet_distance(a, wider) == pytest.approx(3.0, abs=0.15)


def test_pca_features_project_onto_the_leading_directions():
    rng = np.random.default_rng(5)
    data = rng.standard_normal((500, 2)) @ np.diag([5.0, 0.1])
    images = np.concatenate([data, np.zeros((500, 2))], 1).reshape(500, 1, 2, 2)
    features = K.pca_features(images, 1)(images)
    assert features.shape == (500, 1)
    assert np.var(features) == pytest.approx(np.var(data[:, 0]), rel=1e-3)


def test_the_experiment_table_has_every_objective_and_partition():
    from rdvae.profiles import get_profile

    budget = get_profile("smoke").implicit
    rows = K.run_experiment(budget)
    keys = {(r["objective"], r["beta"], r["partition"]) for r in rows}
    assert keys == {
        (o, b, p) for o in ("beta-vae", "deterministic") for b in budget.betas for p in ("train", "test")
    } | {("autoencoder", 0.0, p) for p in ("train", "test")}
    test_rows = [r for r in rows if r["partition"] == "test"]
    assert all(math.isfinite(r["frechet"]) and r["off_diagonal_mass"] >= 0 for r in test_rows)
    assert all(r["variance_ratio_median"] > 0 for r in rows if r["objective"] == "beta-vae")


def test_fitted_variances_reach_the_optimum_of_a_quadratic_likelihood():
    # -log p(x|z) = 1/2 sum_i h_i (z_i - c_i)^2: the second-order expansion is exact, so the optimal
    # posterior variances are beta / (beta + h_i) exactly (SPEC f.1 step 3).  The fit starts within
    # one unit of log-variance of the optimum, as the encoder's variances are in the experiment.
    g = torch.Generator().manual_seed(6)
    betas = torch.tensor([0.1, 1.0, 3.0])
    h = torch.rand(3, 5, 4, generator=g) * 20  # (M, B, d)
    centre, mu = torch.randn(3, 5, 4, generator=g), torch.randn(3, 5, 4, generator=g)

    def nll(z):  # (M, K, B, d) -> (M, K, B)
        return 0.5 * (h[:, None] * (z - centre[:, None]).square()).sum(-1)

    optimum = K.optimal_logvar(h, betas)
    start = optimum + 2 * torch.rand(3, 5, 4, generator=g) - 1
    fitted = K.fit_logvar(nll, mu, start, betas, steps=600, samples=64, generator=g)
    torch.testing.assert_close(fitted, optimum, atol=0.1, rtol=0)
    median, corr = K.variance_agreement(fitted, optimum)
    assert median == pytest.approx(1.0, abs=0.05) and corr > 0.99
    assert K.log_variance_rms(fitted, optimum) < 0.05 < K.log_variance_rms(start, optimum)

    def exact(logvar):  # E_q nll = 1/2 sum_i h_i ((mu_i - c_i)^2 + sigma_i^2), plus beta KL
        return 0.5 * (h * ((mu - centre).square() + logvar.exp())).sum(-1) + betas[:, None] * rate(mu, logvar)

    assert torch.all(exact(fitted) < exact(start))
    noise = torch.randn(3, 20_000, 5, 4, generator=g)
    torch.testing.assert_close(
        K.expected_objective(nll, mu, start, betas, noise), exact(start), rtol=0.01, atol=0
    )


def test_effective_curvature_is_the_curvature_averaged_over_q():
    # nll = sum_i a_i cosh(z_i - c_i): d^2/dz_i^2 = a_i cosh(z_i - c_i), whose mean under
    # N(mu_i, sigma_i^2) is a_i cosh(mu_i - c_i) exp(sigma_i^2 / 2) (Stein's lemma: h^q = E_q h(z)),
    # above the curvature at mu by exp(sigma_i^2 / 2).  A quadratic's curvature is the same everywhere.
    g = torch.Generator().manual_seed(8)
    a, centre = torch.rand(2, 3, 4, generator=g) + 0.5, torch.randn(2, 3, 4, generator=g)
    mu, logvar = torch.randn(2, 3, 4, generator=g), torch.rand(2, 3, 4, generator=g).log()
    half = torch.randn(2, 200_000, 3, 4, generator=g)
    noise = torch.cat([half, -half], 1)

    def cosh_nll(z):  # (M, K, B, d) -> (M, K, B)
        return (a[:, None] * torch.cosh(z - centre[:, None])).sum(-1)

    expected = a * torch.cosh(mu - centre) * torch.exp(logvar.exp() / 2)
    measured = K.effective_curvature(cosh_nll, mu, logvar, noise)
    torch.testing.assert_close(measured, expected, rtol=0.03, atol=0)

    def quadratic_nll(z):
        return 0.5 * (a[:, None] * (z - centre[:, None]).square()).sum(-1)

    torch.testing.assert_close(K.effective_curvature(quadratic_nll, mu, logvar, noise), a, rtol=0.03, atol=0)


def test_the_fitted_optimum_is_stationary_with_the_effective_curvature():
    # For the cosh likelihood the expansion at mu is wrong (the curvature grows away from c), so the
    # fitted variances sit below beta / (beta + h(mu)) but at beta / (beta + h^q) (stationarity).
    g = torch.Generator().manual_seed(9)
    betas = torch.tensor([0.3, 3.0])
    a, centre = torch.rand(2, 5, 4, generator=g) + 0.5, torch.randn(2, 5, 4, generator=g)
    mu = centre + torch.randn(2, 5, 4, generator=g)

    def nll(z):
        return (a[:, None] * torch.cosh(z - centre[:, None])).sum(-1)

    h = a * torch.cosh(mu - centre)
    predicted = K.optimal_logvar(h, betas)
    fitted = K.fit_logvar(nll, mu, predicted, betas, steps=600, samples=64, generator=g)
    half = torch.randn(2, 4000, 5, 4, generator=g)
    h_q = K.effective_curvature(nll, mu, fitted, torch.cat([half, -half], 1))
    mismatch = K._curvature_mismatch(fitted[1], predicted[1], h[1], h_q[1], 3.0)
    assert mismatch["stationary_rms"] < 0.05 < mismatch["implied_rms"]
    stationary = K.optimal_logvar(h_q, betas)
    assert K.log_variance_rms(fitted, stationary) < 0.05 < K.log_variance_rms(fitted, predicted)
    assert mismatch["curvature_ratio_median"] > 1


def test_the_variance_fit_table_compares_encoder_prediction_and_fit():
    from rdvae.profiles import get_profile

    profile = get_profile("smoke")
    rows = K.variance_fit_experiment(profile.implicit, profile.variance_fit)
    assert [r["beta"] for r in rows] == list(profile.implicit.betas)
    for r in rows:
        assert r["encoder_ratio_median"] > 0 and -1 <= r["encoder_corr"] <= 1
        assert all(math.isfinite(r[f"objective_{v}"]) for v in ("encoder", "predicted", "fitted"))
        assert r["fits_rms"] >= 0 and -1 <= r["fits_corr"] <= 1
        assert 0 <= r["active_fraction"] <= 1 and r["stationary_rms"] >= 0 and r["implied_rms"] >= 0
