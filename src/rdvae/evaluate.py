"""Final measurements of every member of a trained configuration (SPEC d.1-d.4), and the hard example.

For each partition (train = the examples trained on; test) and member:

- ``rate``: analytic KL, mean over the evaluated examples;
- ``distortion``: Bernoulli distortion averaged over ``distortion_samples`` z ~ q(z|x);
- ``elbo`` = -(distortion + rate);
- ``log_px``: importance-weighted log p(x), K = ``iwae_samples``, on ``iwae_examples`` examples;
- ``mi``, ``marginal_kl``: the Esmaeili et al. estimator in batches of ``mi_batch`` drawn uniformly
  without replacement (one pass over the evaluated examples), with N = the partition's size;
- ``mi_exact``, ``marginal_kl_exact`` (train rows, N_train <= ``EXACT_INFORMATION_MAX_N``): the same
  quantities with the exact aggregate posterior over all N training points, free of the minibatch
  estimator's upward bias (:func:`rdvae.estimators.exact_mi_and_marginal_kl`);
- ``n``: examples evaluated.

Memorisation diagnostic (SPEC d.6; test rows): an infinite-capacity Bernoulli decoder at code z would
output the posterior-weighted mean of the training images, x*(z) = sum_n w_n(z) x_n with
w_n(z) = q(z|x_n) / sum_m q(z|x_m).  At z = mu(x) for ``memorisation_examples`` random test images we
report the mean three largest weights (``memorisation_weight``, ``memorisation_weight_2``,
``memorisation_weight_3``: a first weight near 1 means x* is a single training image), the mean l2
pixel distance from the VAE's reconstruction x_hat = sigmoid(decode(mu(x))) to x* and to the input
(``distance_to_optimal``, ``distance_to_input``), and the Bernoulli cross-entropies BCE(x*, x_hat) and
BCE(x, x_hat) in nats (``bce_to_optimal``, ``bce_to_input``; SPEC d.6).  A memorising VAE reconstructs
close to x* and far from x.

Diverged members get status ``diverged`` and keep the rate and distortion of their last finite
learning-curve evaluation (other columns empty).  The hard example (SPEC d.3) is the test image at
the 90th percentile of nearest-training-neighbour distance among ``hard_example_pool`` random test
images (None: the whole test set), with neighbours searched in the split's training set (before any
early-stopping hold-out, so every run of a split shows the same example); every member's
reconstruction of it (decoder mean at z = mu(x)) is stored with the results.
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from rdvae import estimators
from rdvae.data import neighbours
from rdvae.store import RunResults

EVAL_SEED = 97_531
# floats per decoded chunk in the log p(x) estimate: 128 MB on a CPU; 4 GB on a GPU, where a small chunk
# (2 samples for 60 members) leaves the device idle
CHUNK_ELEMENTS = {"cpu": 1 << 25, "cuda": 1 << 30}
EXACT_INFORMATION_MAX_N = 40_000  # O(N^2): ~5 s per member at N = 16k, ~2 min at 82k on one core
EXACT_INFORMATION_STREAM = 20  # the member_noise stream of the one z per training point


def _subset(idx: np.ndarray, n: int | None, seed: int) -> np.ndarray:
    if n is None or n >= len(idx):
        return idx
    return np.sort(np.random.default_rng(seed).choice(idx, size=n, replace=False))


@torch.no_grad()
def evaluate_partition(
    trainer, idx: np.ndarray, n_population: int, progress: bool = False
) -> dict[int, dict]:
    """Metrics of every member on the examples ``idx``; returns member index -> metric dict."""
    cfg, device = trainer.config, trainer.device
    order = np.random.default_rng(EVAL_SEED).permutation(idx)  # uniform batches for the MI estimator
    batch = min(cfg.mi_batch, len(order))
    # running sums per member on the device, read back once at the end (no host sync per batch)
    sums = {
        name: torch.zeros(len(trainer.members), dtype=torch.float64, device=device)
        for name in ("rate", "distortion", "mi", "marginal_kl")
    }
    mi_batches = 0
    for start in tqdm(range(0, len(order), batch), desc="evaluating", disable=not progress, leave=False):
        rows = order[start : start + batch]
        x = torch.from_numpy(trainer.images(rows)).to(device)
        full = len(rows) == batch  # the MI estimator needs full batches drawn without replacement
        mi_batches += full
        for group, members, model in zip(trainer.groups, trainer.group_slices, trainer.models, strict=True):
            xs = x.expand(len(group), *x.shape)  # (G, B, C, 32, 32)
            mu, logvar = model.encode(xs)
            rate = estimators.rate(mu, logvar)  # (G, B)
            distortion = torch.zeros_like(rate)
            for s in range(cfg.distortion_samples):
                noise = trainer.member_noise(group, len(rows), stream=10 + s)
                z = estimators.reparameterise(mu, logvar, noise)
                distortion += (
                    estimators.bernoulli_nll(xs.flatten(2), model.decode(z)) / cfg.distortion_samples
                )
                if s == 0:
                    z_first, noise_first = z, noise
            sums["rate"][members] += rate.sum(1)
            sums["distortion"][members] += distortion.sum(1)
            if full:  # member by member: 2-5x faster on a CPU than one stacked call (benchmarks/README.md)
                for k, m in enumerate(group):
                    mi, mkl = estimators.mi_and_marginal_kl(
                        z_first[k], mu[k], logvar[k], n_population, noise=noise_first[k]
                    )
                    sums["mi"][m] += mi
                    sums["marginal_kl"][m] += mkl
    log_px = _log_px(trainer, order[: cfg.iwae_examples])
    totals = {name: values.tolist() for name, values in sums.items()}
    out = {}
    for m in range(len(trainer.members)):
        rate, distortion = totals["rate"][m] / len(order), totals["distortion"][m] / len(order)
        out[m] = {
            "n": len(order),
            "rate": rate,
            "distortion": distortion,
            "elbo": -(rate + distortion),
            "log_px": log_px[m],
            "mi": totals["mi"][m] / mi_batches,
            "marginal_kl": totals["marginal_kl"][m] / mi_batches,
        }
    return out


@torch.no_grad()
def _log_px(trainer, rows: np.ndarray) -> dict[int, float]:
    cfg, device = trainer.config, trainer.device
    totals = torch.zeros(len(trainer.members), dtype=torch.float64, device=device)
    chunk = 64
    for start in range(0, len(rows), chunk):
        x = torch.from_numpy(trainer.images(rows[start : start + chunk])).to(device)
        flat = x.flatten(1)  # (n, C*32*32)
        for group, members, model in zip(trainer.groups, trainer.group_slices, trainer.models, strict=True):
            g, n = len(group), len(x)
            mu, logvar = model.encode(x.expand(g, *x.shape))  # (G, n, d)

            def log_likelihood(z, model=model, g=g, n=n, flat=flat):  # z (k, G, n, d) -> (k, G, n)
                k = z.shape[0]
                logits = model.decode(z.transpose(0, 1).reshape(g, k * n, -1))  # (G, k*n, C*32*32)
                nll = estimators.bernoulli_nll(flat.repeat(k, 1), logits)  # (G, k*n)
                return -nll.reshape(g, k, n).transpose(0, 1)

            generator = torch.Generator(device=device).manual_seed(EVAL_SEED + start)
            k_chunk = max(1, CHUNK_ELEMENTS[device.type] // (g * n * flat.shape[1]))
            estimate = estimators.iwae_log_px(
                mu, logvar, log_likelihood, cfg.iwae_samples, generator, k_chunk
            )
            totals[members] += estimate.sum(1)
    return dict(enumerate((totals / len(rows)).tolist()))


@torch.no_grad()
def train_posteriors(trainer) -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
    """Per member, mu and logvar (N_train, d) of every training image."""
    out = {}
    for group, model in zip(trainer.groups, trainer.models, strict=True):
        mus, logvars = [], []
        for start in range(0, len(trainer.data.train), 4096):
            x = trainer.data.train[start : start + 4096]
            mu, logvar = model.encode(x.expand(len(group), *x.shape))  # (G, b, d) each
            mus.append(mu)
            logvars.append(logvar)
        mu, logvar = torch.cat(mus, 1), torch.cat(logvars, 1)  # (G, N, d)
        out |= {m: (mu[k], logvar[k]) for k, m in enumerate(group)}
    return out


@torch.no_grad()
def exact_information(trainer, posteriors: dict) -> dict[int, dict[str, float]]:
    """Per member, I(x;z) and KL(q(z)||p(z)) on the training set with the exact aggregate posterior
    (one z per training point); empty when N_train exceeds ``EXACT_INFORMATION_MAX_N``."""
    if len(trainer.data.train) > EXACT_INFORMATION_MAX_N:
        return {}
    out = {}
    for m, (mu, logvar) in posteriors.items():
        noise = trainer.member_noise([m], len(mu), stream=EXACT_INFORMATION_STREAM)[0]  # (N, d)
        mi, marginal_kl = estimators.exact_mi_and_marginal_kl(
            estimators.reparameterise(mu, logvar, noise), mu, logvar, noise=noise
        )
        out[m] = {"mi_exact": mi.item(), "marginal_kl_exact": marginal_kl.item()}
    return out


@torch.no_grad()
def optimal_decoder(
    trainer, x: torch.Tensor, posteriors: dict
) -> dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """For images x (E, C, 32, 32): per member, (x*(mu(x)) (E, C*32*32), the three largest weights
    (E, 3), the VAE's reconstruction logits decode(mu(x)) (E, C*32*32))."""
    flat_train = trainer.data.train.flatten(1)  # (N, C*32*32)
    out = {}
    for group, model in zip(trainer.groups, trainer.models, strict=True):
        mu, _ = model.encode(x.expand(len(group), *x.shape))  # (G, E, d)
        logits = model.decode(mu)  # (G, E, C*32*32)
        for k, m in enumerate(group):
            train_mu, train_logvar = posteriors[m]
            optimal, weights = estimators.infinite_capacity_decoder(mu[k], train_mu, train_logvar, flat_train)
            out[m] = (optimal, weights, logits[k])
    return out


def memorisation(x: torch.Tensor, decoded: dict) -> dict[int, dict[str, float]]:
    """Per member, over test images x (E, C, 32, 32) and their :func:`optimal_decoder` outputs: the
    mean three largest weights, the mean l2 distances from the reconstruction to x* and to x, and the
    mean Bernoulli cross-entropies of the reconstruction against x* and against x."""
    flat = x.flatten(1)
    out = {}
    for m, (optimal, weights, logits) in decoded.items():
        recon = torch.sigmoid(logits)
        top = weights.mean(0).tolist() + [0.0] * (3 - weights.shape[1])  # fewer than 3 training images
        out[m] = {
            "memorisation_weight": top[0],
            "memorisation_weight_2": top[1],
            "memorisation_weight_3": top[2],
            "distance_to_optimal": (recon - optimal).norm(dim=1).mean().item(),
            "distance_to_input": (recon - flat).norm(dim=1).mean().item(),
            "bce_to_optimal": estimators.bernoulli_nll(optimal, logits).mean().item(),
            "bce_to_input": estimators.bernoulli_nll(flat, logits).mean().item(),
        }
    return out


def hard_example(trainer) -> dict[str, np.ndarray]:
    """The 90th-percentile test example of the run's split and its nearest training image."""
    cfg, data = trainer.config, trainer.data
    rng = np.random.default_rng([EVAL_SEED, cfg.hard_example_pool or 0])
    split_train = (
        data.train_idx if data.validation_idx is None else np.union1d(data.train_idx, data.validation_idx)
    )
    result = neighbours.split_neighbours(
        split_train, data.test_idx, trainer.images, cfg.hard_example_pool, rng=rng, device=trainer.device
    )
    test_index, neighbour_index, distance = result.hard_example(90)
    images = trainer.images([test_index, neighbour_index])  # (2, C, 32, 32)
    return {
        "test_image": images[0],
        "neighbour_image": images[1],
        "test_index": np.array(test_index),
        "neighbour_index": np.array(neighbour_index),
        "distance": np.array(distance),
        "pool_percentile_90": np.array(result.percentile(90)),
    }


def hard_example_decodings(trainer, decoded: dict, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    """Every member's reconstruction of the hard example, the optimal decoder's x* and its largest
    weight; ``decoded`` holds :func:`optimal_decoder` outputs for the hard example alone."""
    members = range(len(trainer.members))

    def stacked(part: int) -> torch.Tensor:
        return torch.stack([decoded[m][part][0] for m in members])  # (M, ...) for the one example

    def images(flat: torch.Tensor) -> np.ndarray:
        return flat.reshape(-1, *shape).cpu().numpy()

    top = stacked(1).cpu().numpy()  # (M, 3) largest weights
    return {
        "betas": np.array([b for b, _ in trainer.members]),
        "seeds": np.array([s for _, s in trainer.members]),
        "reconstructions": images(torch.sigmoid(stacked(2))),
        "optimal_reconstructions": images(stacked(0)),
        "optimal_max_weight": top[:, 0],
        "optimal_top_weights": top,
    }


def evaluate_run(trainer, progress: bool = False) -> RunResults:
    cfg = trainer.config
    partitions = {
        "train": (_subset(trainer.data.train_idx, cfg.eval_examples, 1), len(trainer.data.train_idx)),
        "test": (_subset(trainer.data.test_idx, cfg.eval_examples, 2), len(trainer.data.test_idx)),
    }
    last_good = {}
    for row in trainer.curves:  # rows are in iteration order: the last one per key wins
        last_good[(row["beta"], row["seed"], row["partition"])] = row
    hard = hard_example(trainer)
    rows = _subset(trainer.data.test_idx, cfg.memorisation_examples, 3)
    # One encoding of the whole training set serves the exact information and the optimal decoder; one
    # optimal-decoder pass serves the memorisation images and, in the last row, the hard example.
    posteriors = train_posteriors(trainer)
    information = exact_information(trainer, posteriors)
    x = np.concatenate([trainer.images(rows), hard["test_image"][None]])  # (E+1, C, 32, 32)
    decoded = optimal_decoder(trainer, torch.from_numpy(x).to(trainer.device), posteriors)
    del posteriors
    memo = memorisation(
        torch.from_numpy(x[:-1]).to(trainer.device), {m: [t[:-1] for t in out] for m, out in decoded.items()}
    )
    hard |= hard_example_decodings(
        trainer, {m: [t[-1:] for t in out] for m, out in decoded.items()}, x.shape[1:]
    )
    members = []
    for partition, (idx, population) in partitions.items():
        metrics = evaluate_partition(trainer, idx, population, progress)
        for m, (beta, seed) in enumerate(trainer.members):
            row = {
                "beta": beta,
                "seed": seed,
                "partition": partition,
                "best_iteration": trainer.best_iteration[m],
            }
            if partition == "test":
                row.update(memo[m])
            else:
                row.update(information.get(m, {}))
            if trainer.diverged_at[m] is None and np.isfinite(list(metrics[m].values())[1:]).all():
                members.append({**row, **metrics[m], "status": "ok", "diverged_at": None})
            else:
                good = last_good.get((beta, seed, partition), {})
                members.append(
                    {**row, "n": None, "rate": good.get("rate"), "distortion": good.get("distortion"),
                     "status": "diverged", "diverged_at": trainer.diverged_at[m] or trainer.iteration}
                )  # fmt: skip
    return RunResults(cfg, members, trainer.curves, hard, trainer.provenance())
