"""The runs a figure needs, fetched from the results store (``results/<profile>/``) and, where the
policy allows, trained when missing.

A run key is ``(split, arch, *variants)`` with variants ``"early-stopping"``, ``"dataset=NAME"``
(Tetrominoes when absent) and ``"objective=NAME"`` (appendix A-8; trained at the estimator's batch,
:meth:`rdvae.profiles.TrainBudget.config`); its config is the profile's training budget for that
split and architecture, with any overrides a chapter's parameters give.
Policy: the ``smoke`` and ``paper`` profiles train missing runs (seconds, or a GPU job); ``cpu`` and
``long`` do not by default, because all figures together are days of CPU training: a chapter then
shows what is stored, lists what is missing with the command that produces it, and the claims that
need it say "inconclusive at this profile".

Best evidence: a build at a profile of :data:`EVIDENCE_ORDER` also looks in the stores of the more
trained profiles before it (a ``cpu`` build looks in ``paper``, ``long``, ``cpu``), and in each store
at every number of iterations a configuration was trained for (the profile's, and longer, e.g.
``rdvae train --profile long ... --iterations 100000``): each (profile, iterations) is a *tier*.
Every panel shows the most-trained run stored for its configuration, labelled with its budget; a
panel that compares configurations (Figure 4's sizes) shows them at the most-trained tier holding them
all (:meth:`Evidence.common_tier`), so its curves differ by configuration, not training.  The
ledger decides each claim at the most-trained tier that holds *all* the runs the claim compares, so
a claim never mixes budgets.  A run that adds betas to a stored run's grid (``rdvae train ... --betas
2,5``, same budget otherwise) is shown as one run with it (:func:`rdvae.store.load_with_extra_betas`).
Chapter parameters that change the budget (``betas``, ``seeds``, ``iterations``) restrict the lookup
to the build's own profile at exactly that budget.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace

from rdvae import store, train
from rdvae.config import (
    DEFAULT_OBJECTIVE,
    OBJECTIVES,
    PAPER_BATCH_SIZE,
    PAPER_ITERATIONS,
    PAPER_SEEDS,
    RunConfig,
)
from rdvae.data import sources, splits
from rdvae.profiles import PROFILES, get_profile

RunKey = tuple[str, ...]
EVIDENCE_ORDER = ("paper", "long", "cpu")  # most-trained first
#: Appendix A-8's runs, by objective: the 3-layer MLP on CV(16k/147k), all at the estimator's batch.
OBJECTIVE_KEYS: dict[str, RunKey] = {name: ("cv-0.1", "mlp3", f"objective={name}") for name in OBJECTIVES}


def candidate_profiles(profile: str) -> tuple[str, ...]:
    """The profiles whose stores a build at ``profile`` reads, most-trained first."""
    if profile not in EVIDENCE_ORDER:
        return (profile,)
    return EVIDENCE_ORDER[: EVIDENCE_ORDER.index(profile) + 1]


def profile_above(profile: str) -> str | None:
    """The least-trained profile more trained than ``profile`` (cpu -> long -> paper); None above the
    paper's, and for a profile whose runs decide no claim (smoke, outside :data:`EVIDENCE_ORDER`)."""
    rank = EVIDENCE_ORDER.index(profile) if profile in EVIDENCE_ORDER else 0
    return EVIDENCE_ORDER[rank - 1] if rank > 0 else None


def budget(results: store.RunResults) -> str:
    """What trained a run, for captions: profile, iterations (and their batch, where it is not the
    profile's, as in appendix A-8), seeds and device."""
    cfg, where = results.config, results.provenance.get("device", "?")
    source = f"{results.profile}: " if results.profile else ""
    usual = PROFILES[results.profile].training.batch_size if results.profile in PROFILES else PAPER_BATCH_SIZE
    batch = f" at batch {cfg.batch_size}" if cfg.batch_size != usual else ""
    seeds = f"{len(cfg.seeds)} seed{'s' * (len(cfg.seeds) > 1)}"
    return f"{source}{cfg.iterations:,} it{batch} × {seeds}, {where}"


def below_paper(results: store.RunResults) -> bool:
    """Whether a run trained less than the paper's protocol: fewer examples than 257k iterations of
    batch 128 (an objective variant of appendix A-8 trains at batch 512), or fewer than 5 seeds."""
    cfg = results.config
    examples = cfg.iterations * cfg.batch_size
    return examples < PAPER_ITERATIONS * PAPER_BATCH_SIZE or len(cfg.seeds) < len(PAPER_SEEDS)


def training_size(config: RunConfig) -> int:
    """N_train: the training images a run drew its minibatches from, as ``train.TrainingData.load``
    chooses them (its split of its dataset, cut to ``train_limit``, less an early-stopping run's
    validation images)."""
    n = len(sources.get_split(config.dataset, config.split)[0])
    n = min(n, config.train_limit) if config.train_limit else n
    return n - config.validation_size(n)  # 0 without early stopping


def epochs(config: RunConfig) -> float:
    """Passes a run makes over its training set: iterations x batch size / N_train."""
    return config.iterations * config.batch_size / training_size(config)


Tier = tuple[str, int]  # (profile, iterations): one budget the store holds runs at


def tier_order(tiers: Iterable[Tier]) -> list[Tier]:
    """Most-trained first: by profile (:data:`EVIDENCE_ORDER`), then by iterations, longest first."""
    rank = {name: k for k, name in enumerate(EVIDENCE_ORDER)}
    return sorted(set(tiers), key=lambda t: (rank.get(t[0], len(rank)), -t[1]))


def tier_name(tier: Tier) -> str:
    return f"{tier[0]} ({tier[1]:,} it)"


class Evidence(Mapping):
    """The stored runs of some keys at every candidate budget (tier).

    A tier is a profile and a number of iterations: the store of ``long`` can hold a configuration at
    its profile's 50,000 iterations and, trained further, at 100,000.  As a mapping,
    ``evidence[key]`` is the most-trained stored run of ``key`` (None if none); :meth:`at` gives one
    tier's runs alone, which is what the ledger compares.
    """

    def __init__(self, profile: str, stored: dict[RunKey, dict[Tier, store.RunResults]]):
        self.profile, self.stored = profile, stored
        self.tiers = tier_order(tier for found in stored.values() for tier in found)

    def __getitem__(self, key: RunKey) -> store.RunResults | None:
        found = self.stored[key]
        return next((found[t] for t in self.tiers if t in found), None)

    def __iter__(self) -> Iterator[RunKey]:
        return iter(self.stored)

    def __len__(self) -> int:
        return len(self.stored)

    def at(self, tier: Tier) -> dict[RunKey, store.RunResults | None]:
        return {key: found.get(tier) for key, found in self.stored.items()}

    def common_tier(self, keys: Iterable[RunKey]) -> Tier | None:
        """The most-trained tier holding every one of ``keys`` that is stored at all (None where no
        tier holds them all, or none is stored): where runs compared in one panel share a budget."""
        stored = [key for key in keys if self.stored.get(key)]
        return next((t for t in self.tiers if stored and all(t in self.stored[key] for key in stored)), None)


def _variants(key: RunKey) -> dict:
    split, arch, *variants = key
    extra = {}
    for variant in variants:
        if variant == "early-stopping":
            extra["early_stopping"] = True
        elif variant.startswith("dataset="):
            extra["dataset"] = variant.split("=", 1)[1]
        elif variant.startswith("objective="):
            extra["objective"] = variant.split("=", 1)[1]
        else:
            raise ValueError(f"unknown run variant {variant!r} in {key}")
    return extra


def run_key(config: RunConfig, profile: str | None = None) -> RunKey:
    """The run key of a configuration: its split and architecture, and the variants that set it apart
    (the inverse of :func:`config_for`'s reading of them).  Appendix A-8's beta-VAE arm has the
    default objective and differs from the ordinary run only in its batch (the profile's estimator
    batch, SPEC d.5); given the ``profile`` it was trained under, its key says so."""
    variants = ["early-stopping"] * config.early_stopping
    variants += [f"dataset={config.dataset}"] * (config.dataset != "tetrominoes")
    variants += [f"objective={config.objective}"] * (
        config.objective != DEFAULT_OBJECTIVE or (profile is not None and _estimator_batched(config, profile))
    )
    return (config.split, config.arch, *variants)


def _estimator_batched(config: RunConfig, profile: str) -> bool:
    """Whether ``config`` trains at ``profile``'s estimator batch rather than its ordinary one."""
    budget = get_profile(profile).training
    return config.batch_size == budget.mi_batch != budget.batch_size


def config_for(profile: str, key: RunKey, **overrides) -> RunConfig:
    split, arch, *_ = key
    return get_profile(profile).training.config(split, arch, **overrides, **_variants(key))


def label(key: RunKey) -> str:
    split, arch, *_ = key
    extra = _variants(key)
    dataset = extra.get("dataset", "tetrominoes")
    where = splits.describe(split) if dataset == "tetrominoes" else f"{dataset} {split}"
    objective = f", {extra['objective']} objective" if "objective" in extra else ""
    return f"{arch.upper()} {where}" + (" early stopping" if extra.get("early_stopping") else "") + objective


def command(profile: str, key: RunKey, iterations: int | None = None) -> str:
    """The ``rdvae train`` command that produces ``key`` at ``profile`` (trained for ``iterations``,
    by default the profile's)."""
    split, arch, *_ = key
    extra = _variants(key)
    longer = iterations not in (None, config_for(profile, key).iterations)
    flags = f" --iterations {iterations}" if longer else ""
    flags += " --early-stopping" if extra.get("early_stopping") else ""
    flags += f" --dataset {extra['dataset']}" if "dataset" in extra else ""
    flags += f" --objective {extra['objective']}" if "objective" in extra else ""
    return f"rdvae train --profile {profile} --arch {arch} --split {split}{flags} --store results/{profile}"


def get_runs(
    profile: str,
    keys: Iterable[RunKey],
    device: str = "cpu",
    train_missing: bool | None = None,
    **overrides,
) -> Evidence:
    """Every key's stored runs at the candidate profiles; a key stored at none of them is trained at
    ``profile`` if ``train_missing`` (default per profile), else listed with its command."""
    settings = get_profile(profile)
    train_missing = settings.train_missing_runs if train_missing is None else train_missing
    changes_budget = any(v is not None for v in overrides.values())
    profiles = (profile,) if changes_budget else candidate_profiles(profile)
    stored: dict[RunKey, dict[str, store.RunResults]] = {}
    for key in keys:
        found = {}
        for name in profiles:
            config = config_for(name, key, **overrides)
            stored_at = [] if changes_budget else store.stored_iterations(config, store.profile_store(name))
            load = store.load if changes_budget else store.load_with_extra_betas
            for iterations in dict.fromkeys([config.iterations, *stored_at]):
                results = load(replace(config, iterations=iterations), store.profile_store(name))
                if results is not None:
                    results.profile = name
                    found[name, iterations] = results
        if not found and train_missing:
            config = config_for(profile, key, **overrides)
            results = train.run(config, device, store.profile_store(profile), progress=False)
            results.profile = profile
            found[profile, config.iterations] = results
        stored[key] = found
    evidence = Evidence(profile, stored)
    missing = [key for key in evidence if evidence[key] is None]
    if missing:
        print(f"not yet run at profile {profile!r} (their claims are inconclusive here):")
        for key in missing:
            print(f"  {label(key):<40} {command(profile, key)}")
        each = (store.seed_shards(config_for(profile, key, **overrides)) for key in missing)
        shards = next(filter(None, each), [])  # early-stopping runs have none
        if shards:
            first, second = (shard.seeds[0] for shard in shards[:2])
            print(f"  (or one seed at a time, in separate sittings: add --seeds {first}, then --seeds "
                  f"{second} ...; the book assembles the seeds once all are stored)")  # fmt: skip
    upgraded = sorted({r.profile for r in evidence.values() if r is not None and r.profile != profile})
    if upgraded:
        print(f"showing runs from the more-trained profile(s) {', '.join(upgraded)} where stored")
    return evidence
