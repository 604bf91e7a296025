"""The runs a figure needs, fetched from the results store (``results/<profile>/``) and, where the
policy allows, trained when missing.

A run key is ``(split, arch, *variants)`` with variants ``"early-stopping"`` and ``"dataset=NAME"``
(Tetrominoes when absent); its config is the profile's training budget for that split and
architecture, with any overrides a chapter's parameters give.
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


def _variants(key: RunKey) -> dict:
    split, arch, *variants = key
    extra = {}
    for variant in variants:
        if variant == "early-stopping":
            extra["early_stopping"] = True
        elif variant.startswith("dataset="):
            extra["dataset"] = variant.split("=", 1)[1]
        else:
            raise ValueError(f"unknown run variant {variant!r} in {key}")
    return extra


def config_for(profile: str, key: RunKey, **overrides) -> RunConfig:
    split, arch, *_ = key
    return get_profile(profile).training.config(split, arch, **overrides, **_variants(key))


def label(key: RunKey) -> str:
    split, arch, *_ = key
    extra = _variants(key)
    dataset = extra.get("dataset", "tetrominoes")
    where = splits.describe(split) if dataset == "tetrominoes" else f"{dataset} {split}"
    return f"{arch.upper()} {where}" + (" early stopping" if extra.get("early_stopping") else "")


def command(profile: str, key: RunKey) -> str:
    """The ``rdvae train`` command that produces ``key`` at ``profile``."""
    split, arch, *_ = key
    extra = _variants(key)
    flags = " --early-stopping" if extra.get("early_stopping") else ""
    flags += f" --dataset {extra['dataset']}" if "dataset" in extra else ""
    return f"rdvae train --profile {profile} --arch {arch} --split {split}{flags} --store results/{profile}"


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
