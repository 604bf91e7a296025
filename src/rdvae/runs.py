"""The runs a figure needs, fetched from the results store (``results/<profile>/``) and, where the
policy allows, trained when missing.

A run key is ``(split, arch)`` or ``(split, arch, "early-stopping")``; its config is the profile's
training budget for that split and architecture, with any overrides a chapter's parameters give.
Policy: the ``smoke`` and ``paper`` profiles train missing runs (seconds, or a GPU job); the ``cpu``
profile does not by default, because all figures together are about a day of CPU training: a chapter
then shows what is stored, lists what is missing with the command that produces it, and the claims
that need it say "inconclusive at this profile".
"""

from __future__ import annotations

from collections.abc import Iterable

from rdvae import store, train
from rdvae.config import RunConfig
from rdvae.data import splits
from rdvae.profiles import get_profile

RunKey = tuple[str, ...]


def config_for(profile: str, key: RunKey, **overrides) -> RunConfig:
    split, arch, *variant = key
    extra = {"early_stopping": True} if "early-stopping" in variant else {}
    return get_profile(profile).training.config(split, arch, **overrides, **extra)


def label(key: RunKey) -> str:
    split, arch, *variant = key
    return f"{arch.upper()} {splits.describe(split)}" + (" early stopping" if variant else "")


def command(profile: str, key: RunKey) -> str:
    """The ``rdvae train`` command that produces ``key`` at ``profile`` (``PROFILE`` as a placeholder)."""
    split, arch, *variant = key
    flag = " --early-stopping" if variant else ""
    return f"rdvae train --profile {profile} --arch {arch} --split {split}{flag} --store results/{profile}"


def get_runs(
    profile: str,
    keys: Iterable[RunKey],
    device: str = "cpu",
    train_missing: bool | None = None,
    **overrides,
) -> dict[RunKey, store.RunResults | None]:
    """Every key's results: stored, else trained (if ``train_missing``, default per profile), else None."""
    settings = get_profile(profile)
    train_missing = settings.train_missing_runs if train_missing is None else train_missing
    folder = store.profile_store(profile)
    out = {}
    for key in keys:
        config = config_for(profile, key, **overrides)
        results = store.load(config, folder)
        if results is None and train_missing:
            results = train.run(config, device, folder, progress=False)
        out[key] = results
    missing = [key for key, value in out.items() if value is None]
    if missing:
        print(f"not yet run at profile {profile!r} (their claims are inconclusive here):")
        for key in missing:
            print(f"  {label(key):<40} {command(profile, key)}")
    return out
