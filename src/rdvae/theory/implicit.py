"""beta as implicit regularisation: the deterministic approximation of the beta-VAE (Kumar & Poole
2020; SPEC f).

For one x with q = N(mu, Sigma), a second-order expansion of the reconstruction term around z = mu
and the Gauss-Newton curvature of a Bernoulli decoder with logits l(z), H ~ -J^T diag(pi (1 - pi)) J
(J = dl/dz, D x d; pi = sigmoid(l)), give the optimal diagonal posterior variances and a deterministic
objective (SPEC f.1 steps 3-5):

    sigma_i*^2 = beta / (beta + h_i),   h_i = sum_j pi_j (1 - pi_j) J_ji^2,
    -L_beta ~ BCE(x, l(mu)) + beta/2 |mu|^2 + beta/2 sum_i log(1 + h_i / beta).

The regulariser is a penalty on the decoder's Jacobian; as beta -> 0 it vanishes (a plain
autoencoder), and the diagonal family rewards decoders whose Jacobian columns are orthogonal
(Hadamard: the diagonal regulariser >= the full-covariance one, equal iff J^T diag(.) J is diagonal).
For a linear decoder with Gaussian noise the expansion is exact (:func:`linear_gaussian_objectives`).

Jacobians come from propagating the d basis tangents through the MLP decoder layer by layer (the
tangent of a ReLU layer is the mask times W), which costs about d decoder passes and stays an
ordinary autograd graph, so the deterministic objective trains with plain backward.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from rdvae import estimators
from rdvae.models import StackedVAE

OBJECTIVES = ("beta-vae", "deterministic", "autoencoder")


def decoder_jacobian(model: StackedVAE, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (M, B, D) at codes z (M, B, d) and the decoder Jacobian dl/dz, shape (M, B, D, d)."""
    if model.arch.kind != "mlp":
        raise ValueError(f"decoder_jacobian supports MLP decoders, not {model.arch.name}")
    m, b, d = z.shape
    h, tangent = z, None  # tangent: (M, B*d, width), row (b, i) = d h_b / d z_i
    for layer in model.decoder:
        pre = layer(h)  # (M, B, width)
        if tangent is None:  # d pre / d z_i is row i of the weight, for every example
            tangent = layer.weight[:, None].expand(m, b, d, -1).reshape(m, b * d, -1)
        else:
            tangent = torch.bmm(tangent, layer.weight)
        mask = (pre > 0).to(pre.dtype)  # (M, B, width)
        tangent = (tangent.reshape(m, b, d, -1) * mask[:, :, None]).reshape(m, b * d, -1)
        h = torch.relu(pre)
    logits = model.from_latent(h)
    jacobian = torch.bmm(tangent, model.from_latent.weight).reshape(m, b, d, -1).transpose(2, 3)
    return logits, jacobian  # (M, B, D), (M, B, D, d)


def curvature(logits: torch.Tensor, jacobian: torch.Tensor) -> torch.Tensor:
    """Gauss-Newton curvature J^T diag(pi (1 - pi)) J of -log p(x|z), shape (M, B, d, d)."""
    p = torch.sigmoid(logits)
    weighted = jacobian * (p * (1 - p))[..., None]  # (M, B, D, d)
    return weighted.transpose(-1, -2) @ jacobian


def curvature_diagonal(logits: torch.Tensor, jacobian: torch.Tensor) -> torch.Tensor:
    """h_i = sum_j pi_j (1 - pi_j) J_ji^2, shape (M, B, d)."""
    p = torch.sigmoid(logits)
    return ((p * (1 - p))[..., None] * jacobian.square()).sum(-2)


def optimal_logvar(h: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
    """log sigma*^2 = log(beta / (beta + h)) for h (M, B, d) and betas (M,)."""
    beta = betas[:, None, None]
    return torch.log(beta / (beta + h))


def deterministic_loss(model: StackedVAE, x: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
    """Per-member mean over the batch of BCE(x, l(mu)) + beta/2 |mu|^2 + beta/2 sum_i log(1 + h_i/beta)."""
    mu, _ = model.encode(x)  # the deterministic model uses the mean head only
    logits, jacobian = decoder_jacobian(model, mu)
    beta = betas[:, None]
    regulariser = torch.log1p(curvature_diagonal(logits, jacobian) / beta[..., None]).sum(-1)
    loss = estimators.bernoulli_nll(x.flatten(2), logits) + beta / 2 * (mu.square().sum(-1) + regulariser)
    return loss.mean(1)


def autoencoder_loss(model: StackedVAE, x: torch.Tensor) -> torch.Tensor:
    """Per-member mean BCE(x, l(mu)): the beta -> 0 limit of the deterministic objective."""
    mu, _ = model.encode(x)
    return estimators.bernoulli_nll(x.flatten(2), model.decode(mu)).mean(1)


def off_diagonal_mass(h_matrix: torch.Tensor) -> torch.Tensor:
    """sum_{i != j} H_ij^2 / sum_i H_ii^2 per example, for H (..., d, d); 0 when H is diagonal."""
    diagonal = h_matrix.diagonal(dim1=-2, dim2=-1)
    off = h_matrix - torch.diag_embed(diagonal)
    return off.square().sum((-1, -2)) / diagonal.square().sum(-1)


def linear_gaussian_objectives(
    weight: torch.Tensor, bias: torch.Tensor, mu: torch.Tensor, x: torch.Tensor, noise_var: float, beta: float
) -> dict[str, float]:
    """K1: for a linear decoder N(W z + b, s^2 I), the exact beta-objective at the optimal diagonal and
    full posterior covariances beside the deterministic approximation's value (float64 inputs).

    Exact: E_q log p(x|z) = log N(x; W mu + b, s^2 I) - tr(W^T W Sigma) / (2 s^2) for q = N(mu, Sigma),
    maximised over Sigma against beta KL(q || p).  The approximation: log p(x|mu) - beta/2 |mu|^2 -
    beta/2 sum_i log(1 + |W_i|^2 / (beta s^2)) (diagonal) or - beta/2 log det(I + W^T W / (beta s^2)).
    """
    d = mu.shape[0]
    gram = weight.T @ weight / noise_var  # (d, d) = -H
    residual = x - weight @ mu - bias
    log_lik = -0.5 * (residual.square().sum() / noise_var + x.numel() * math.log(2 * math.pi * noise_var))

    def exact(sigma: torch.Tensor) -> float:
        kl = 0.5 * (sigma.trace() + mu.square().sum() - d - torch.logdet(sigma))
        return float(log_lik - 0.5 * (gram @ sigma).trace() - beta * kl)

    identity = torch.eye(d, dtype=weight.dtype)
    diagonal_sigma = torch.diag(beta / (beta + gram.diagonal()))
    full_sigma = torch.linalg.inv(identity + gram / beta)
    prior_term = float(log_lik - beta / 2 * mu.square().sum())
    return {
        "log p(x|mu)": float(log_lik),
        "exact, diagonal": exact(diagonal_sigma),
        "approximation, diagonal": prior_term - beta / 2 * float(torch.log1p(gram.diagonal() / beta).sum()),
        "exact, full": exact(full_sigma),
        "approximation, full": prior_term - beta / 2 * float(torch.logdet(identity + gram / beta)),
    }


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """||m_a - m_b||^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2)) between two feature samples (rows)."""
    from scipy import linalg

    mean_a, mean_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = linalg.sqrtm(cov_a @ cov_b)
    root = root.real if np.iscomplexobj(root) else root
    return float(np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a + cov_b - 2 * root))


def pca_features(train: np.ndarray, components: int):
    """A function mapping images (n, ...) to their first ``components`` principal components of the
    training images: the feature space of the Frechet distance (Inception features need weights that
    cannot be downloaded here; this substitutes pixel PCA, as SPEC f.3 suggests)."""
    flat = train.reshape(len(train), -1).astype(np.float64)
    mean = flat.mean(0)
    _, _, vt = np.linalg.svd(flat - mean, full_matrices=False)
    basis = vt[:components].T  # (D, components)
    return lambda images: (images.reshape(len(images), -1).astype(np.float64) - mean) @ basis


# ------------------------------------------------------------------------------------ the experiment
def _train_stack(model, objective, betas, seeds, train, iterations, batch, progress=None) -> None:
    """Adam (lr 1e-3, fused) on one objective for every member of ``model``; member m sees the
    minibatch order of its seed (paired across objectives and betas) and its own noise stream."""
    from rdvae.models import member_generator

    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    orders = {s: member_generator(s, 1) for s in set(seeds)}
    noise_streams = [member_generator(s, 2) for s in seeds]
    n, position, perms = len(train), math.inf, {}
    for step in range(iterations):
        if position + batch > n:
            perms = {s: torch.randperm(n, generator=g) for s, g in orders.items()}
            position = 0
        rows = torch.stack([perms[s][position : position + batch] for s in seeds])  # (M, B)
        position += batch
        x = train[rows]  # (M, B, C, H, W)
        if objective == "beta-vae":
            from rdvae.train import member_losses

            noise = torch.stack(
                [torch.randn(batch, model.arch.latent_dim, generator=g) for g in noise_streams]
            )
            loss = member_losses(model, x, noise, betas)[0]
        elif objective == "deterministic":
            loss = deterministic_loss(model, x, betas)
        else:
            loss = autoencoder_loss(model, x)
        optimiser.zero_grad(set_to_none=True)
        loss.sum().backward()
        optimiser.step()
        if progress is not None and (step + 1) % max(1, iterations // 4) == 0:
            progress(f"{objective}: {step + 1:,}/{iterations:,} iterations, loss {loss.tolist()}")


def variance_agreement(logvar: torch.Tensor, predicted: torch.Tensor) -> tuple[float, float]:
    """(median of sigma^2 / sigma_pred^2, correlation of the log-variances) over all inputs and
    dimensions of one member: K2's two numbers."""
    ratio = (logvar - predicted).exp().flatten()
    pair = torch.stack([logvar.flatten(), predicted.flatten()])  # (2, B*d)
    return ratio.median().item(), torch.corrcoef(pair)[0, 1].item()


def log_variance_rms(logvar: torch.Tensor, predicted: torch.Tensor) -> float:
    """Root mean square of log sigma^2 - log sigma_pred^2 over all inputs and dimensions: unlike the
    correlation, it does not shrink or grow with the spread of the predicted variances."""
    return (logvar - predicted).square().mean().sqrt().item()


def expected_objective(nll, mu: torch.Tensor, logvar: torch.Tensor, betas: torch.Tensor, noise: torch.Tensor):
    """The beta-objective E_q nll(z) + beta KL(q || p) per member and input, shape (M, B), for
    q = N(mu, diag exp(logvar)) (mu, logvar: (M, B, d)) with the expectation over ``noise``
    (M, K, B, d); ``nll`` maps codes (M, K, B, d) to -log p(x|z), shape (M, K, B)."""
    z = estimators.reparameterise(mu[:, None], logvar[:, None], noise)  # (M, K, B, d)
    return nll(z).mean(1) + betas[:, None] * estimators.rate(mu, logvar)


def fit_logvar(nll, mu, logvar, betas, steps: int, samples: int, generator: torch.Generator) -> torch.Tensor:
    """Per-input log-variances minimising :func:`expected_objective` with the decoder and the means
    held fixed: Adam from ``logvar`` (lr 0.02, cut to 0.006 and 0.0018 at 1/2 and 3/4 of the
    steps) on ``samples`` fresh antithetic noise draws (eps and -eps) per step, returning the
    average of the last quarter's iterates.  The objective's curvature in log sigma_i^2 at its
    optimum is beta / 2 whatever h_i (the second-order model: 1/2 (h_i + beta) e^s - beta s / 2),
    so small beta needs many steps; Adam moves s by about lr per step, so start within a unit or
    two of the optimum."""
    s = logvar.detach().clone().requires_grad_(True)
    optimiser = torch.optim.Adam([s], lr=0.02)
    average, kept = torch.zeros_like(s), 0
    for step in range(steps):
        if step in (steps // 2, 3 * steps // 4):
            for group in optimiser.param_groups:
                group["lr"] *= 0.3
        half = torch.randn(mu.shape[0], samples // 2, *mu.shape[1:], generator=generator)
        noise = torch.cat([half, -half], 1)  # antithetic: the gradient's first-order term cancels
        loss = expected_objective(nll, mu, s, betas, noise).sum()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        if step >= 3 * steps // 4:
            average, kept = average + s.detach(), kept + 1
    return average / kept


def effective_curvature(nll, mu: torch.Tensor, logvar: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """The curvature that q = N(mu, diag exp(logvar)) sees, h_i^q = E_q[eps_i d nll/d z_i] / sigma_i,
    shape (M, B, d), with the expectation over ``noise`` (M, K, B, d; antithetic pairs make it a
    central difference).  By Stein's lemma h_i^q = E_q[d^2 nll / d z_i^2], the curvature averaged over
    q rather than taken at mu, and the beta-objective's stationarity in log sigma_i^2,
    1/2 sigma_i E_q[eps_i d_i nll] + beta/2 (sigma_i^2 - 1) = 0, says exactly

        sigma_i^2 = beta / (beta + h_i^q),

    the second-order prediction with h_i^q in place of h_i: where the expansion at mu is wrong, it
    is wrong by log((beta + h_i) / (beta + h_i^q)), the mismatch of the two curvatures damped by
    beta."""
    z = estimators.reparameterise(mu[:, None], logvar[:, None], noise).detach().requires_grad_(True)
    (gradient,) = torch.autograd.grad(nll(z).sum(), z)  # (M, K, B, d)
    return (noise * gradient).mean(1) / torch.exp(0.5 * logvar)


def decoder_nll(model: StackedVAE, x: torch.Tensor):
    """-log p(x|z) of ``model``'s decoder for images x (M, B, C, H, W), as a function of codes
    (M, K, B, d) -> (M, K, B)."""
    flat = x.flatten(2)  # (M, B, D)

    def nll(z):
        m, k, b, d = z.shape
        logits = model.decode(z.reshape(m, k * b, d)).reshape(m, k, b, -1)  # (M, K, B, D)
        return estimators.bernoulli_nll(flat[:, None], logits)

    return nll


def _train_members(budget, objective: str, train: torch.Tensor, progress=None):
    """The members of ``objective`` ((beta, seed) pairs: every beta x seed, or beta 0 per seed for
    the autoencoder), their betas and their stack trained on ``train``; one definition, so that the
    variance fit's beta-VAE is the implicit experiment's."""
    members = [(0.0, s) for s in budget.seeds] if objective == "autoencoder" else [
        (b, s) for s in budget.seeds for b in budget.betas]  # fmt: skip
    betas = torch.tensor([b for b, _ in members])
    seeds = [s for _, s in members]
    model = StackedVAE("mlp1", seeds, tuple(train.shape[1:]))
    _train_stack(model, objective, betas, seeds, train, budget.iterations, 128, progress)
    return members, betas, model


@torch.no_grad()
def _measure(model, objective, betas, x, samples: int, generator) -> list[dict]:
    """Per member, on images x (n, C, H, W): the beta-objective -L_beta = E_q BCE + beta KL with the
    model's posterior (the encoder's for the beta-VAE, sigma*^2 = beta/(beta + h) for the deterministic
    approximation; none for the autoencoder), its reconstruction BCE at mu, the posterior-variance check
    of K2 and the off-diagonal curvature mass of K5; means over x."""
    m = len(betas)
    xs = x.expand(m, *x.shape)
    mu, logvar = model.encode(xs)
    logits, jacobian = decoder_jacobian(model, mu)
    h = curvature_diagonal(logits, jacobian)
    predicted = optimal_logvar(h, betas.clamp_min(1e-12))
    flat = xs.flatten(2)
    out = [{"reconstruction": v} for v in estimators.bernoulli_nll(flat, logits).mean(1).tolist()]
    mass = off_diagonal_mass(curvature(logits, jacobian)).mean(1).tolist()
    for k in range(m):
        out[k]["off_diagonal_mass"] = mass[k]
    if objective == "autoencoder":
        return out
    posterior = logvar if objective == "beta-vae" else predicted
    distortion = torch.zeros(m, x.shape[0])
    for _ in range(samples):
        noise = torch.randn(mu.shape, generator=generator)
        distortion += estimators.bernoulli_nll(
            flat, model.decode(estimators.reparameterise(mu, posterior, noise))
        )
    rate = estimators.rate(mu, posterior).mean(1)
    distortion = (distortion / samples).mean(1)
    for k in range(m):
        out[k] |= {"distortion": distortion[k].item(), "rate": rate[k].item(),
                   "neg_objective": (distortion[k] + betas[k] * rate[k]).item()}  # fmt: skip
        if objective == "beta-vae":  # K2: the encoder's variances against beta / (beta + h_i)
            median, corr = variance_agreement(logvar[k], predicted[k])
            out[k]["variance_ratio_median"], out[k]["log_variance_corr"] = median, corr
    return out


def run_experiment(budget, progress=None) -> list[dict]:
    """Train the beta-VAE, the deterministic approximation (every beta x seed) and a plain autoencoder
    (every seed) on ``budget``'s dataset, then measure each on training and test images and by the
    Frechet distance of decoded prior samples to the test images; one row per (objective, beta, seed,
    partition), with the Frechet distance on the test rows."""
    from rdvae.data import sources

    train_idx, test_idx = sources.get_split(budget.dataset, budget.split)
    images = sources.image_source(budget.dataset)
    train = torch.from_numpy(images(train_idx))
    evaluation = {
        "train": torch.from_numpy(images(train_idx[: budget.eval_examples])),
        "test": torch.from_numpy(images(test_idx[: budget.eval_examples])),
    }
    features = pca_features(images(train_idx), budget.features)
    test_features = features(evaluation["test"].numpy())
    rows = []
    for objective in OBJECTIVES:
        members, betas, model = _train_members(budget, objective, train, progress)
        generator = torch.Generator().manual_seed(4242)
        for partition, x in evaluation.items():
            measured = _measure(model, objective, betas, x, samples=8, generator=generator)
            for (beta, seed), values in zip(members, measured, strict=True):
                rows.append(
                    {"objective": objective, "beta": beta, "seed": seed, "partition": partition, **values}
                )
        with torch.no_grad():
            z = torch.randn(len(members), budget.samples, model.arch.latent_dim, generator=generator)
            decoded = torch.sigmoid(model.decode(z)).reshape(len(members), budget.samples, *train.shape[1:])
        for k, (beta, seed) in enumerate(members):
            distance = frechet_distance(features(decoded[k].numpy()), test_features)
            next(r for r in reversed(rows) if r["objective"] == objective and r["beta"] == beta
                 and r["seed"] == seed and r["partition"] == "test")["frechet"] = distance  # fmt: skip
    return rows


def variance_fit_experiment(budget, fit, progress=None) -> list[dict]:
    """K2 without the encoder (chapter 12): train ``budget``'s beta-VAE as :func:`run_experiment`
    does (:func:`_train_members`, so the same model), then on ``fit.examples`` test images compare per
    member the encoder's log-variances, the prediction log(beta / (beta + h_i)) and two fits of the
    per-input optimum (:func:`fit_logvar`), one started at the encoder's variances and one at the
    prediction, on independent noise: where they agree the fit has converged, whichever start is
    nearer, and their difference bounds its noise and bias.  The beta-objective at each, on common
    noise.  One row per member."""
    from rdvae.data import sources

    train_idx, test_idx = sources.get_split(budget.dataset, budget.split)
    images = sources.image_source(budget.dataset)
    members, betas, model = _train_members(budget, "beta-vae", torch.from_numpy(images(train_idx)), progress)
    model.requires_grad_(False)
    x = torch.from_numpy(images(test_idx[: fit.examples])).expand(len(members), -1, -1, -1, -1)
    with torch.no_grad():
        mu, logvar = model.encode(x)
        logits, jacobian = decoder_jacobian(model, mu)
        h = curvature_diagonal(logits, jacobian)  # (M, B, d), at mu
        predicted = optimal_logvar(h, betas)
    nll = decoder_nll(model, x)
    fitted = [fit_logvar(nll, mu, start, betas, fit.steps, fit.samples, torch.Generator().manual_seed(seed))
              for seed, start in ((1, logvar), (2, predicted))]  # fmt: skip
    best = (fitted[0] + fitted[1]) / 2
    h_q = _effective_curvature_at(nll, mu, best, fit.samples, torch.Generator().manual_seed(4))
    with torch.no_grad():
        noise = torch.randn(
            len(members), 4 * fit.samples, *mu.shape[1:], generator=torch.Generator().manual_seed(3)
        )
        variances = {"encoder": logvar, "predicted": predicted, "fitted": best}
        objective = {
            name: expected_objective(nll, mu, v, betas, noise).mean(1) for name, v in variances.items()
        }
    rows = []
    for k, (beta, seed) in enumerate(members):
        encoder = variance_agreement(logvar[k], predicted[k])
        fitted_ = variance_agreement(best[k], predicted[k])
        rows.append({
            "beta": beta, "seed": seed, "examples": fit.examples,
            "encoder_ratio_median": encoder[0], "encoder_corr": encoder[1],
            "fitted_ratio_median": fitted_[0], "fitted_corr": fitted_[1],
            "encoder_fitted_corr": variance_agreement(logvar[k], best[k])[1],
            "fits_corr": variance_agreement(fitted[0][k], fitted[1][k])[1],
            "encoder_rms": log_variance_rms(logvar[k], predicted[k]),
            "fitted_rms": log_variance_rms(best[k], predicted[k]),
            "fits_rms": log_variance_rms(fitted[0][k], fitted[1][k]),
            "predicted_sd": predicted[k].std().item(),
            **_curvature_mismatch(best[k], predicted[k], h[k], h_q[k], beta),
            **{f"objective_{name}": float(v[k]) for name, v in objective.items()},
        })  # fmt: skip
        if progress is not None:
            progress(f"beta {beta:g}: fitted/predicted median {fitted_[0]:.3f}, corr {fitted_[1]:.3f}")
    return rows


def _effective_curvature_at(nll, mu, logvar, samples: int, generator: torch.Generator) -> torch.Tensor:
    """:func:`effective_curvature` averaged over 4 chunks of ``samples`` antithetic draws each."""
    chunks = []
    for _ in range(4):
        half = torch.randn(mu.shape[0], samples // 2, *mu.shape[1:], generator=generator)
        chunks.append(effective_curvature(nll, mu, logvar, torch.cat([half, -half], 1)))
    return torch.stack(chunks).mean(0)


def _curvature_mismatch(fitted, predicted, h, h_q, beta: float) -> dict:
    """Why the prediction misses the fitted optimum, for one member's (B, d) tensors: how far the
    fit is from its own stationarity condition log(beta / (beta + h^q)) (``stationary_rms``), the
    error that the curvature mismatch implies, log((beta + h) / (beta + h^q)) (``implied_rms``), the
    mismatch itself, log(h^q / h), on the dimensions the data uses (h > beta, so sigma_pred^2 < 1/2;
    ``curvature_log_rms``), and the share of such dimensions (``active_fraction``).  On the other
    dimensions both curvatures are small against beta, the variances are the prior's and the
    prediction cannot miss by much."""
    usable = beta + h_q > 0  # stationarity makes beta + h^q positive; noise may not
    stationary = fitted - torch.log(beta / (beta + h_q.clamp_min(1e-12 - beta)))
    implied = torch.log((beta + h) / (beta + h_q).clamp_min(1e-12))
    active = (h > beta) & (h_q > 0)
    ratio = torch.log(h_q[active] / h[active])
    return {
        "stationary_rms": stationary[usable].square().mean().sqrt().item(),
        "implied_rms": implied[usable].square().mean().sqrt().item(),
        "curvature_log_rms": ratio.square().mean().sqrt().item() if active.any() else float("nan"),
        "curvature_ratio_median": ratio.exp().median().item() if active.any() else float("nan"),
        "active_fraction": (h > beta).float().mean().item(),
    }
