"""The theory chapters' experiments as stored tables: computed once per profile budget, then read.

Like :func:`rdvae.runs.get_runs`, a build looks in the stores of the more-trained profiles first
(``paper`` > ``long`` > ``cpu``) and computes a missing table only where the profile's policy allows
(``smoke`` and ``paper``), or when asked to.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict

import torch

import rdvae
from rdvae import store
from rdvae.device import cpu_model
from rdvae.profiles import get_profile
from rdvae.runs import candidate_profiles

VERSION = 1  # bump when a table's computation changes what it stores


def _provenance(seconds: float, device: str) -> dict:
    from rdvae.train import git_commit

    return {
        "rdvae": rdvae.__version__, "git_commit": git_commit(), "torch": torch.__version__, "device": device,
        "machine": f"{cpu_model()}, {os.cpu_count()} cores", "seconds": round(seconds, 1),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }  # fmt: skip


def get_table(
    profile: str,
    name: str,
    config_of: Callable[[str], dict],
    compute: Callable[[], list[dict]],
    compute_missing: bool | None = None,
    device: str = "cpu",
) -> store.TableResults | None:
    """The stored table ``name`` for the first candidate profile that has it (its config from
    ``config_of(profile)``), else computed at ``profile`` and stored, if allowed, else None."""
    for candidate in candidate_profiles(profile):
        found = store.load_table(name, config_of(candidate), store.profile_store(candidate))
        if found is not None:
            found.profile = candidate
            return found
    allowed = get_profile(profile).train_missing_runs if compute_missing is None else compute_missing
    if not allowed:
        print(f"table {name!r} not yet computed at profile {profile!r}; build with -p train_missing=true")
        return None
    start = time.perf_counter()
    rows = compute()
    config = config_of(profile)
    store.save_table(
        name, config, rows, _provenance(time.perf_counter() - start, device), store.profile_store(profile)
    )
    found = store.load_table(name, config, store.profile_store(profile))
    found.profile = profile
    return found


def linear_vae_config(profile: str) -> dict:
    return {"version": VERSION, **asdict(get_profile(profile).linear_vae)}


def linear_vae_table(profile: str, compute_missing: bool | None = None) -> store.TableResults | None:
    """Chapter 11: finite-N simulations of the linear VAE beside the closed form (SPEC g)."""
    from rdvae.theory.linear_vae_sim import simulate

    budget = get_profile(profile).linear_vae

    def compute():
        return simulate(budget.dims, budget.alphas, budget.betas, budget.seeds, progress=print)

    return get_table(profile, "linear-vae", linear_vae_config, compute, compute_missing)


def implicit_config(profile: str) -> dict:
    return {"version": VERSION, **asdict(get_profile(profile).implicit)}


def implicit_table(profile: str, compute_missing: bool | None = None) -> store.TableResults | None:
    """Chapter 12: beta-VAE, deterministic approximation and autoencoder, trained and measured (SPEC f)."""
    from rdvae.theory.implicit import run_experiment

    budget = get_profile(profile).implicit
    return get_table(
        profile, "implicit", implicit_config, lambda: run_experiment(budget, print), compute_missing
    )


# 2: root-mean-square log-variance errors beside the correlations; 3: the second fit starts at the
# prediction, so that the two fits' agreement tests convergence, not only noise
# 4: the curvature q sees (effective_curvature) and the mismatch it explains
VARIANCE_FIT_VERSION = 4


def variance_fit_config(profile: str) -> dict:
    budget = get_profile(profile)
    return {"version": VERSION, **asdict(budget.implicit), "fit": asdict(budget.variance_fit),
            "fit_version": VARIANCE_FIT_VERSION}  # fmt: skip


def variance_fit_table(profile: str, compute_missing: bool | None = None) -> store.TableResults | None:
    """Chapter 12, K2 without the encoder: the implicit experiment's beta-VAE with per-input fitted
    posterior variances beside its encoder's and the second-order prediction."""
    from rdvae.theory.implicit import variance_fit_experiment

    budget = get_profile(profile)

    def compute():
        return variance_fit_experiment(budget.implicit, budget.variance_fit, print)

    return get_table(profile, "variance-fit", variance_fit_config, compute, compute_missing)
