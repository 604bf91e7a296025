"""Named compute budgets, defined in one place.

A chapter's ``parameters`` cell names a profile; everything a chapter does that costs time reads its
budget from here, so ``smoke`` exercises every code path in seconds and ``paper`` runs the paper's
full protocol.  Figures are labelled with the profile that made them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from rdvae.data.splits import CD_PAPER_RATIOS, CV_PAPER_RATIOS

# Splits whose nearest-neighbour distances chapter 3 measures: SPEC b.2's table.
_NN_SPLITS = (
    "default",
    "checkerboard",
    *(f"cv-{r}" for r in (0.35, 0.2, 0.1, 0.05)),
    *(f"cd-{r}" for r in (0.7, 0.4, 0.2, 0.1)),
)


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

    def as_dict(self) -> dict:
        return asdict(self)


PROFILES = {
    "smoke": Profile(
        name="smoke",
        summary="every code path in seconds, on tiny subsets; numbers are not meaningful",
        full_dataset=False,
        stats_images=2048,
        nn_splits=("default", "checkerboard", "cv-0.1", "cd-0.2"),
        nn_test=128,
        nn_train_max=1024,
    ),
    "cpu": Profile(
        name="cpu",
        summary="the default: full dataset and exact splits; reduced training budgets for 2 CPU cores",
        full_dataset=True,
        stats_images=None,
        nn_splits=_NN_SPLITS,
        nn_test=1500,
        nn_train_max=None,
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
    ),
}
DEFAULT_PROFILE = "cpu"


def get_profile(name: str) -> Profile:
    """The profile called ``name``; an unknown name raises with the list of valid ones."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}") from None
