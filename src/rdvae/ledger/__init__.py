"""The replication ledger: every checkable claim of SPEC (e) as a function of stored results.

Each claim returns a verdict, "reproduced", "not reproduced" or "inconclusive at this profile", and
the numbers behind it; no verdict is written by hand.  A claim is inconclusive when a run it needs is
missing, when the beta grid lacks a value it refers to, or when the profile is too small to decide
(``smoke``).  Given :class:`rdvae.runs.Evidence`, a claim is decided at the most-trained profile that
holds every run it compares, and the verdict records that budget and whether it is below the paper's
(a "not reproduced" at 6k iterations is not the paper being wrong).

Uncertainty: every point is a mean over seeds with sample sd s and standard error s / sqrt(n).  Two
points a and b differ beyond noise when their difference exceeds

    tol(a, b) = max(1 nat, 2 sqrt(se_a^2 + se_b^2))

(two standard errors of the difference, never below 1 nat; with one seed it is 1 nat).  Hence:

- "decreases monotonically as beta decreases": no step from one beta to the next smaller one rises by
  more than tol of those two points;
- "U-shaped / interior minimum": the minimum is not at the smallest beta, and the value at the
  smallest beta exceeds the minimum by more than tol of those two points.
- a mean over the beta grid of differences (F5) is held to two standard errors of that mean,
  ``mean_difference_tolerance``, not to the widest single beta's tol.

The modules: :mod:`~rdvae.ledger.shapes` (reading runs as per-beta rows, the tolerance and the shapes),
:mod:`~rdvae.ledger.verdicts` (claims, verdicts and the budget that decides them),
:mod:`~rdvae.ledger.paper` (the paper's claims) and :mod:`~rdvae.ledger.theory` (the companion
papers').  Everything a chapter or test uses is importable from :mod:`rdvae.ledger` itself.
"""

from rdvae.ledger.paper import (
    CD_SIZES,
    CLAIMS,
    CV_SIZES,
    MONOTONE,
    U_SHAPE,
    claims_for,
    figure7_claims,
    paper_claims,
)
from rdvae.ledger.shapes import (
    LATE_FRACTION,
    TOL_FLOOR,
    Runs,
    Undecidable,
    gaps,
    interior_minimum_rise,
    mean_difference_tolerance,
    monotone_as_beta_decreases,
    pair_tolerance,
    standard_error,
    steps_as_beta_decreases,
    still_falling,
    still_falling_text,
    u_shape,
    u_shape_holds_from,
    u_shape_over_training,
    worst_rise_as_beta_decreases,
)
from rdvae.ledger.theory import IMPLICIT, LINEAR, THEORY_CLAIMS
from rdvae.ledger.verdicts import (
    INCONCLUSIVE,
    NOT_REPRODUCED,
    PAPER_BUDGET,
    REPRODUCED,
    Claim,
    RunToTrain,
    Verdict,
    at_every_budget,
    budget_history,
    changes_with_budget,
    describe,
    evaluate,
    keys_for,
    next_runs,
    runs_to_extend,
    runs_to_start,
    runs_to_train,
    verdict_history,
    waiting_for,
)

__all__ = [
    "CD_SIZES", "CLAIMS", "CV_SIZES", "IMPLICIT", "INCONCLUSIVE", "LATE_FRACTION", "LINEAR", "MONOTONE",
    "NOT_REPRODUCED", "PAPER_BUDGET", "REPRODUCED", "THEORY_CLAIMS", "TOL_FLOOR", "U_SHAPE", "Claim",
    "RunToTrain", "Runs", "Undecidable", "Verdict", "at_every_budget", "budget_history",
    "changes_with_budget", "claims_for", "describe", "evaluate", "figure7_claims", "gaps",
    "interior_minimum_rise", "keys_for", "mean_difference_tolerance", "monotone_as_beta_decreases",
    "next_runs", "pair_tolerance", "paper_claims", "runs_to_extend",
    "runs_to_start", "runs_to_train", "standard_error", "steps_as_beta_decreases", "still_falling",
    "still_falling_text", "u_shape", "u_shape_holds_from", "u_shape_over_training", "verdict_history",
    "waiting_for",
    "worst_rise_as_beta_decreases",
]  # fmt: skip
