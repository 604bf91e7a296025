"""Named compute budgets, defined in one place.

A chapter's ``parameters`` cell names a profile; everything a chapter does that costs time reads its
budget from here, so ``smoke`` exercises every code path in seconds and ``paper`` runs the paper's
full protocol.  Figures are labelled with the profile that made them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from rdvae.config import PAPER_BATCH_SIZE, PAPER_BETAS, PAPER_ITERATIONS, PAPER_SEEDS, RunConfig
from rdvae.data.splits import CD_PAPER_RATIOS, CV_PAPER_RATIOS

# Splits whose nearest-neighbour distances chapter 3 measures: SPEC b.2's table.
_NN_SPLITS = (
    "default",
    "checkerboard",
    *(f"cv-{r}" for r in (0.35, 0.2, 0.1, 0.05)),
    *(f"cd-{r}" for r in (0.7, 0.4, 0.2, 0.1)),
)


@dataclass(frozen=True)
class TrainBudget:
    """How much training and evaluation one configuration gets (see :class:`RunConfig`)."""

    betas: tuple[float, ...]
    seeds: tuple[int, ...]
    iterations: int
    eval_every: int
    curve_examples: int
    eval_examples: int | None
    iwae_samples: int
    iwae_examples: int
    batch_size: int = PAPER_BATCH_SIZE
    mi_batch: int = 512
    distortion_samples: int = 1
    train_limit: int | None = None
    hard_example_pool: int | None = 1500

    def config(self, split: str, arch: str, **overrides) -> RunConfig:
        """The run config of (split, arch) under this budget.  ``overrides`` replace budget fields
        (``betas``, ``seeds``, ``iterations``, ...) or set other :class:`RunConfig` fields
        (``early_stopping``, ...); None values are ignored.  An ``objective`` given (appendix A-8, the
        beta-VAE's included) trains on minibatches of ``mi_batch``, the batch the I / KL estimator
        uses (SPEC d.5), for as many examples as this budget's other runs see."""
        given = {k: v for k, v in overrides.items() if v is not None}
        if "objective" in given:
            given = {**self.estimator_batches(), **given}
        budget = replace(self, **{k: v for k, v in given.items() if k in self.__dataclass_fields__})
        extra = {k: v for k, v in given.items() if k not in self.__dataclass_fields__}
        return RunConfig(split=split, arch=arch, **asdict(budget), **extra)

    def estimator_batches(self) -> dict:
        """Batch size, iterations and evaluation interval of this budget with minibatches of
        ``mi_batch``: iterations x batch (the examples seen, hence the epochs) kept."""
        scale = self.batch_size / self.mi_batch
        return {"batch_size": self.mi_batch, "iterations": max(1, round(self.iterations * scale)),
                "eval_every": max(1, round(self.eval_every * scale))}  # fmt: skip


@dataclass(frozen=True)
class LinearVaeBudget:
    """The finite-N simulations of the solvable linear VAE (chapter 11, SPEC g): data dimension N,
    the grids of sample ratio alpha = n/N and beta, and the seeds of data and initialisation."""

    dims: int
    alphas: tuple[float, ...]
    betas: tuple[float, ...]
    seeds: tuple[int, ...]


@dataclass(frozen=True)
class ImplicitBudget:
    """The beta-VAE / deterministic-approximation / autoencoder comparison of chapter 12 (SPEC f.3)."""

    dataset: str
    split: str
    betas: tuple[float, ...]
    seeds: tuple[int, ...]
    iterations: int
    eval_examples: int  # test images for objectives, posterior variances and Jacobians
    samples: int  # prior samples for the Frechet distance
    features: int  # PCA components of the feature space the Frechet distance is computed in


@dataclass(frozen=True)
class VarianceFitBudget:
    """Chapter 12's check of K2 without the encoder: per-input posterior variances fitted to the
    beta-objective of the implicit experiment's beta-VAE (decoder and means fixed), on ``examples``
    test images, by ``steps`` Adam steps on ``samples`` fresh antithetic noise draws each."""

    examples: int
    samples: int
    steps: int


@dataclass(frozen=True)
class Profile:
    """A compute budget.  ``None`` in a size field means "all of it"."""

    name: str
    summary: str
    full_dataset: bool  # render all 163,840 images (2 GB cache) rather than only the rows a chapter uses
    stats_images: int | None  # images used for the dataset statistics of chapter 2
    nn_splits: tuple[str, ...]  # splits whose nearest-neighbour distances chapter 3 measures
    nn_test: int  # random test examples per split for those distances (SPEC b.2 uses 1,500)
    nn_train_max: int | None  # cap on the training images searched (None: the whole training set)
    training: TrainBudget  # each configuration of a figure
    demo: TrainBudget  # the small sweep trained live in chapter 4
    train_missing_runs: bool  # figure chapters train runs the store lacks (else they list them)
    decides_claims: bool  # whether this budget is big enough for the ledger to give verdicts
    linear_vae: LinearVaeBudget  # chapter 11
    implicit: ImplicitBudget  # chapter 12
    variance_fit: VarianceFitBudget  # chapter 12, K2's fitted variances
    # Seconds one chapter cell may run before the book build fails naming it; None: no limit (the
    # cells of the real profiles train for hours).  A kernel that stalls must not hang CI.
    cell_timeout_s: int | None = None

    def as_dict(self) -> dict:
        return asdict(self)


# Smoke: every code path (curves, early stopping, every estimator) on minibatches of 32 for 20 steps,
# so that the whole smoke book builds in about three minutes on 2 cores.
_SMOKE_TRAINING = TrainBudget(
    betas=(0.1, 1.0, 3.0), seeds=(0,), iterations=20, eval_every=10, curve_examples=128, eval_examples=512,
    iwae_samples=8, iwae_examples=64, batch_size=32, mi_batch=128, train_limit=1024, hard_example_pool=256,
)  # fmt: skip
# The reduced CPU profile: 5 betas spanning both sides of 1 (the paper's 0.01 ... 3), 2 restarts so
# that error bars exist, 6,000 iterations (47 epochs of CV(16k), 9 of Default).  One configuration
# (10 members) is ~12 minutes of training for MLP-1 and ~17 for MLP-3 on 2 cores (85 and 60
# model-steps/s, benchmarks/README.md), so the four configurations of Figure 3 take about an hour.
# Final metrics on 8,192 examples per partition.
_CPU_TRAINING = TrainBudget(
    betas=(0.01, 0.1, 0.3, 1.0, 3.0), seeds=(0, 1), iterations=6000, eval_every=250, curve_examples=1024,
    eval_examples=8192, iwae_samples=100, iwae_examples=500,
)  # fmt: skip
_CPU_DEMO = TrainBudget(
    betas=(0.1, 1.0, 3.0), seeds=(0,), iterations=1500, eval_every=100, curve_examples=512,
    eval_examples=2048, iwae_samples=50, iwae_examples=256,
)  # fmt: skip
# The long CPU profile: the central configurations (Figures 3, 4 and 8 on CV splits) trained for many
# epochs, because the U-shape is an overfitting effect that needs them (the paper: 257k iterations,
# ~2,000 epochs of CV(16k)).  Measured on the 2-core AMD EPYC CPU kind (benchmarks/README.md): one
# process with one thread runs ~25 MLP-1 and ~18 MLP-3 member-steps/s, and two such processes side
# by side 1.0-1.3x what one process with both threads does.  4 betas x 2 seeds x 50,000 iterations
# (391 epochs of CV(16k), 781 of CV(8k); 19 % of the paper's iterations) is then ~4.5 h for an
# MLP-1 and ~6 h for an MLP-3 configuration, two configurations at a time.  With denormals flushed
# (benchmarks/README.md) the MLP-3 configuration took 1.9 h alone on the 2-core Intel kind.  Long
# enough to pass the onset of overfitting (results/long, CV(16k), mean test D of 2 seeds): at
# beta = 0.01 it bottoms out at 74.5 near 15k iterations for MLP-1 and at 68.0 near 16k for MLP-3, then
# rises to 76.5 and 68.8 at 50k while train D keeps falling.  Train with `rdvae train --keep-state`,
# so that a longer budget later continues these runs instead of repeating them (rdvae.kept_states).
_LONG_TRAINING = TrainBudget(
    betas=(0.01, 0.1, 1.0, 3.0), seeds=(0, 1), iterations=50_000, eval_every=1000, curve_examples=2048,
    eval_examples=8192, iwae_samples=1000, iwae_examples=500, hard_example_pool=None,
)  # fmt: skip
# The paper's protocol (section 4.3): 12 betas x 5 restarts x 257k iterations, batch 128; log p(x)
# with K = 1000 on 2,000 examples per partition (SPEC h); all examples for the other metrics, and the
# hard example searched over the whole test set (SPEC d.3; on the run's GPU), as at `long`, so that
# paper and long panels of one figure show the same example.
_PAPER_TRAINING = TrainBudget(
    betas=PAPER_BETAS, seeds=PAPER_SEEDS, iterations=PAPER_ITERATIONS, eval_every=5000, curve_examples=2048,
    eval_examples=None, iwae_samples=1000, iwae_examples=2000, hard_example_pool=None,
)  # fmt: skip

_SMOKE_LINEAR = LinearVaeBudget(dims=100, alphas=(0.5, 2.0, 8.0), betas=(0.1, 1.0, 2.5), seeds=(0,))
# N = 1,000 and 3 seeds: finite-N shifts of the top eigenvalue are a few % (SPEC g.2: use N >= 1,000);
# 7 x 7 x 3 L-BFGS fits take ~5 minutes on one core.
_CPU_LINEAR = LinearVaeBudget(
    dims=1000, alphas=(0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0), betas=(0.05, 0.25, 0.5, 1.0, 1.5, 2.0, 2.5),
    seeds=(0, 1, 2),
)  # fmt: skip
_SMOKE_IMPLICIT = ImplicitBudget(
    dataset="digits", split="default", betas=(0.3, 3.0), seeds=(0,), iterations=20, eval_examples=64,
    samples=64, features=8,
)  # fmt: skip
# The bundled digits (offline; 898 training images): 2,000 iterations are ~285 epochs.  A step of the
# deterministic approximation costs ~6 beta-VAE steps (the decoder Jacobian is d = 10 tangent passes
# and their backward), ~1.4 s for the 4 betas on one shared core: ~50 minutes for the whole table.
_CPU_IMPLICIT = ImplicitBudget(
    dataset="digits", split="default", betas=(0.1, 0.3, 1.0, 3.0), seeds=(0,), iterations=2000,
    eval_examples=898, samples=2000, features=32,
)  # fmt: skip
_SMOKE_VARIANCE_FIT = VarianceFitBudget(examples=8, samples=8, steps=30)
# 32 test images x 10 dimensions, two fits of 600 steps on 128 antithetic samples each (from the
# encoder's and from the predicted variances): about 15 minutes for the table, training included,
# on one AMD EPYC core beside a training run.  The two fits' agreement is stored beside the result.
_CPU_VARIANCE_FIT = VarianceFitBudget(examples=32, samples=128, steps=600)

_CPU = Profile(
    name="cpu",
    summary="the default: full dataset and exact splits; reduced training budgets for 2 CPU cores",
    full_dataset=True,
    stats_images=None,
    nn_splits=_NN_SPLITS,
    nn_test=1500,
    nn_train_max=None,
    training=_CPU_TRAINING,
    demo=_CPU_DEMO,
    train_missing_runs=False,
    decides_claims=True,
    linear_vae=_CPU_LINEAR,
    implicit=_CPU_IMPLICIT,
    variance_fit=_CPU_VARIANCE_FIT,
)
PROFILES = {
    "smoke": Profile(
        name="smoke",
        summary="every code path in seconds, on tiny subsets; numbers are not meaningful",
        full_dataset=False,
        stats_images=2048,
        nn_splits=("default", "checkerboard", "cv-0.1", "cd-0.2"),
        nn_test=128,
        nn_train_max=1024,
        training=_SMOKE_TRAINING,
        demo=_SMOKE_TRAINING,
        train_missing_runs=True,
        decides_claims=False,
        linear_vae=_SMOKE_LINEAR,
        implicit=_SMOKE_IMPLICIT,
        variance_fit=_SMOKE_VARIANCE_FIT,
        # The slowest smoke cell (chapter 06 training Figure 4's runs) took 49 s with --jobs 2 on 2
        # cores beside two training runs; a kernel that stopped answering once stalled CI 25 minutes.
        cell_timeout_s=600,
    ),
    "cpu": _CPU,
    "long": replace(
        _CPU,
        name="long",
        summary="the cpu profile's data with many more epochs for the central configurations (days of CPU)",
        training=_LONG_TRAINING,
    ),
    "paper": Profile(
        name="paper",
        summary="the paper's full protocol (12 beta x 5 seeds x 257k iterations); a GPU job",
        full_dataset=True,
        stats_images=None,
        nn_splits=(
            "default",
            "checkerboard",
            *(f"cv-{r}" for r in CV_PAPER_RATIOS),
            *(f"cd-{r}" for r in CD_PAPER_RATIOS),
        ),
        nn_test=5000,
        nn_train_max=None,
        training=_PAPER_TRAINING,
        demo=replace(_CPU_DEMO, iterations=10_000, eval_every=500),
        train_missing_runs=True,
        decides_claims=True,
        linear_vae=replace(_CPU_LINEAR, dims=2000),
        implicit=_CPU_IMPLICIT,
        variance_fit=_CPU_VARIANCE_FIT,
    ),
}
DEFAULT_PROFILE = "cpu"


def get_profile(name: str) -> Profile:
    """The profile called ``name``; an unknown name raises with the list of valid ones."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}") from None
