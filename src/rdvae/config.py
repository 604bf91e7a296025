"""A training run's configuration: a frozen dataclass whose canonical JSON hash is the run id.

Everything that changes the numbers a run produces is in here; where it ran (device, wall time,
versions) is provenance, kept beside the results but outside the hash.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, fields

from rdvae.data import sources, splits
from rdvae.models import get_architecture

#: The paper's beta grid (footnote 2) and restarts.
PAPER_BETAS = (0.001, 0.005, 0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0, 2.0, 3.0, 5.0)
PAPER_SEEDS = (0, 1, 2, 3, 4)
PAPER_ITERATIONS = 257_000
PAPER_BATCH_SIZE = 128  # section 4.3 (SPEC c)
#: The training loss: the beta-VAE's -L_beta, or one of the variants of appendix A-8 (SPEC d.5) that
#: keep only one of the rate's two parts, R = I_q(x;z) + KL(q(z)||p(z)) (paper eq. 5).
OBJECTIVES = ("beta-vae", "mi-removed", "marginal-kl-removed")
DEFAULT_OBJECTIVE = "beta-vae"


@dataclass(frozen=True)
class RunConfig:
    """One configuration (split, architecture) trained for every (beta, seed) member."""

    split: str
    arch: str
    betas: tuple[float, ...]
    seeds: tuple[int, ...]
    iterations: int
    dataset: str = "tetrominoes"
    batch_size: int = PAPER_BATCH_SIZE
    lr: float = 1e-3
    train_limit: int | None = None  # train on this many (random) training examples only; None = all
    eval_every: int = 1000  # iterations between learning-curve evaluations
    curve_examples: int = 1024  # examples per partition for the learning curves
    eval_examples: int | None = None  # examples per partition for the final metrics; None = all
    distortion_samples: int = 1  # z samples per example for the final distortion
    iwae_samples: int = 1000  # K for log p(x)
    iwae_examples: int = 2000  # examples per partition for log p(x)
    mi_batch: int = 512  # batch of the MI / marginal-KL estimator (paper: 512)
    hard_example_pool: int | None = 1500  # test examples searched for the 90th-pct hard example (None: all)
    memorisation_examples: int = 64  # test examples for the infinite-capacity-decoder diagnostic
    early_stopping: bool = False  # hold out a validation set and keep each member's best -L_beta
    validation_fraction: float = 0.1  # of the training set, when early_stopping
    patience: int = 20  # evaluations without improvement before a member counts as stopped
    objective: str = DEFAULT_OBJECTIVE  # one of OBJECTIVES (rdvae.train.member_losses)

    def __post_init__(self):
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        for beta in self.betas:
            if not (beta > 0 and math.isfinite(beta)):
                raise ValueError(f"beta must be a positive finite number, got {beta}; e.g. --betas 0.1,1,3")
        if len(set(self.betas)) != len(self.betas) or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"betas {self.betas} and seeds {self.seeds} must not repeat")
        if not self.betas or not self.seeds:
            raise ValueError("need at least one beta and one seed")
        if any(s < 0 for s in self.seeds):
            raise ValueError(f"seeds must be non-negative integers, got {self.seeds}")
        if self.iterations < 1 or self.batch_size < 1:
            raise ValueError(
                f"iterations ({self.iterations}) and batch_size ({self.batch_size}) must be >= 1"
            )
        if not 0 < self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must be in (0, 1), got {self.validation_fraction}")
        if self.mi_batch < 2:
            raise ValueError(f"mi_batch must be >= 2, got {self.mi_batch}")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"unknown objective {self.objective!r}; choose one of {', '.join(OBJECTIVES)}")
        if self.objective != DEFAULT_OBJECTIVE and self.batch_size < 2:
            raise ValueError(
                f"the {self.objective} objective estimates I and KL over the batch: batch_size >= 2"
            )
        if self.objective != DEFAULT_OBJECTIVE and self.early_stopping:
            raise ValueError(
                f"early stopping compares the beta-VAE objective on held-out data; it cannot be combined "
                f"with the {self.objective} objective: drop one of them"
            )
        get_architecture(self.arch)
        if self.dataset == "tetrominoes":
            splits.get_split(self.split)  # raises with the valid names, without loading anything
        elif self.dataset not in sources.DATASETS:
            raise ValueError(f"unknown dataset {self.dataset!r}; choose one of {', '.join(sources.DATASETS)}")

    @property
    def members(self) -> list[tuple[float, int]]:
        """(beta, seed) of every member, seed-major: member index = seed_index * len(betas) + beta_index."""
        return [(beta, seed) for seed in self.seeds for beta in self.betas]

    def partition_sizes(self) -> dict[str, int]:
        """Examples in each partition as trained and evaluated: N_train after ``train_limit`` and the
        early-stopping hold-out (the N of the MI estimator on the training set), and N_test."""
        train, test = sources.get_split(self.dataset, self.split)
        n_train = len(train) if self.train_limit is None else min(len(train), self.train_limit)
        return {"train": n_train - self.validation_size(n_train), "test": len(test)}

    def validation_size(self, n_train: int) -> int:
        """Training examples held out for early stopping (none without it)."""
        return max(1, round(self.validation_fraction * n_train)) if self.early_stopping else 0

    def same_except(self, other: RunConfig, *names: str) -> bool:
        """Whether ``other`` is this configuration but for the fields ``names`` (e.g. the same run
        trained for other ``iterations``).  Compares the other fields one by one rather than building
        a config, whose ``__post_init__`` computes its split (~2 ms each; ``rdvae runs`` makes
        thousands of these comparisons)."""
        unknown = set(names) - {f.name for f in fields(self)}
        if unknown:
            raise ValueError(f"RunConfig has no field(s) {sorted(unknown)}")
        compared = [f.name for f in fields(self) if f.name not in names]
        return all(getattr(self, name) == getattr(other, name) for name in compared)

    def to_json(self) -> dict:
        data = asdict(self)
        if data["objective"] == DEFAULT_OBJECTIVE:  # added after runs were stored: leaving the default
            del data["objective"]  # out keeps every earlier run id (the hash of this JSON) unchanged
        return data

    @classmethod
    def from_json(cls, data: dict) -> RunConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown config fields {sorted(unknown)}")
        return cls(**data)

    @property
    def run_id(self) -> str:
        """Stable 12-hex-digit hash of the canonical JSON of this config."""
        canonical = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        prefix = "" if self.dataset == "tetrominoes" else f"{self.dataset}-"
        variant = "" if self.objective == DEFAULT_OBJECTIVE else f"{self.objective}-"
        digest = hashlib.sha256(canonical.encode()).hexdigest()[:12]
        return f"{prefix}{self.arch}-{self.split}-{variant}{digest}"
