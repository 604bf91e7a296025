"""Claims and verdicts: a :class:`Claim` names the runs it compares and a check over them; deciding
it gives a :class:`Verdict` that records the budget (profile, iterations, seeds) that decided it, whether
that budget is below the paper's, and which of its runs were still learning when training stopped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from rdvae.config import PAPER_BATCH_SIZE, PAPER_ITERATIONS, PAPER_SEEDS
from rdvae.ledger.shapes import Runs, Undecidable, on_shared_betas, still_falling_text
from rdvae.profiles import get_profile
from rdvae.runs import (
    EVIDENCE_ORDER,
    Evidence,
    Tier,
    below_paper,
    config_for,
    label,
    profile_above,
    tier_name,
    tier_order,
)
from rdvae.store import TableResults

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive at this profile"
PAPER_BUDGET = f"{PAPER_ITERATIONS:,} iterations x {len(PAPER_SEEDS)} seeds"


@dataclass(frozen=True)
class Verdict:
    claim: str
    figure: str
    statement: str
    threshold: str
    status: str
    numbers: dict = field(default_factory=dict)
    note: str = ""
    decided_at: str = ""  # the profile whose runs decided it
    budget: str = ""  # their iterations and seeds
    below_paper: bool = False  # trained less than the paper's protocol
    still_falling: str = ""  # which of its runs' test D was still falling when training stopped

    @property
    def headline(self) -> str:
        """The status with the budget that decided it, e.g. "not reproduced at 6,000 iterations"."""
        if self.status == INCONCLUSIVE or not self.budget:
            return self.status
        qualifier = f" (paper: {PAPER_BUDGET})" if self.below_paper else ""
        return f"{self.status} at {self.budget}{qualifier}"


@dataclass(frozen=True)
class Claim:
    id: str
    figure: str
    statement: str
    threshold: str
    needs: tuple[tuple, ...]
    check: Callable[[Runs], tuple[bool, dict]]

    def evaluate(self, runs: Runs | Evidence, profile: str) -> Verdict:
        """Decide on ``runs`` at ``profile``; on :class:`Evidence`, at the most-trained tier (profile
        and iterations) that holds every run this claim needs."""
        if isinstance(runs, Evidence):
            holding = self.budgets_holding(runs)
            if holding:
                return self._decide(runs.at(holding[0]), holding[0][0])
            stored = {
                "/".join(k): [tier_name(t) for t in tier_order(runs.stored.get(k, {}))] for k in self.needs
            }
            if all(stored.values()):  # each run exists, but never all at one budget
                note = f"its runs are stored only at different budgets ({stored}); they are not compared"
                return Verdict(**self._base(), status=INCONCLUSIVE, note=note)
            profile = runs.profile
        missing = [key for key in self.needs if runs.get(key) is None]
        if missing:
            names = ", ".join("/".join(k) for k in missing)
            return Verdict(**self._base(), status=INCONCLUSIVE, note=f"not run at profile {profile}: {names}")
        return self._decide(runs, profile)

    def budgets_holding(self, evidence: Evidence) -> list[Tier]:
        """The tiers of ``evidence`` (most-trained first) that hold every run this claim compares."""
        return [t for t in evidence.tiers if all(evidence.at(t).get(key) is not None for key in self.needs)]

    def waiting_for(self, evidence: Evidence) -> tuple[Tier, list[tuple]] | None:
        """Of the tiers more trained than every one that holds all the runs this claim compares, the
        one holding most of them (the more trained on a tie), with the runs it lacks: once those are
        trained, the claim is decided there.  None where no such tier holds any."""
        holding = self.budgets_holding(evidence)
        above = evidence.tiers[: evidence.tiers.index(holding[0])] if holding else evidence.tiers
        lacking = {tier: [key for key in self.needs if evidence.at(tier).get(key) is None] for tier in above}
        partial = [tier for tier in above if len(lacking[tier]) < len(self.needs)]
        if not partial:
            return None
        closest = min(partial, key=lambda tier: len(lacking[tier]))  # the first, most trained, on a tie
        return closest, lacking[closest]

    def evaluate_at_every_budget(self, evidence: Evidence) -> dict[Tier, Verdict]:
        """This claim's verdict at each of :meth:`budgets_holding`; the first is :meth:`evaluate`'s."""
        return {tier: self._decide(evidence.at(tier), tier[0]) for tier in self.budgets_holding(evidence)}

    def _base(self) -> dict:
        return dict(claim=self.id, figure=self.figure, statement=self.statement, threshold=self.threshold)

    def _decide(self, runs: Runs, profile: str) -> Verdict:
        runs = on_shared_betas(runs, self.needs)
        used = [runs[key] for key in self.needs]
        if all(isinstance(r, TableResults) for r in used):  # a theory chapter's experiment
            budget = dict(decided_at=profile, budget="; ".join(t.describe() for t in used))
        else:
            iterations = sorted({r.config.iterations for r in used})
            seeds = sorted({len(r.config.seeds) for r in used})
            batches = sorted({r.config.batch_size for r in used} - {PAPER_BATCH_SIZE})
            at_batch = f" at batch {'/'.join(map(str, batches))}" if batches else ""
            counts = "/".join(f"{i:,}" for i in iterations)
            budget = dict(
                decided_at=profile,
                budget=f"{counts} iterations{at_batch} x {'/'.join(map(str, seeds))} seeds",
                below_paper=any(below_paper(r) for r in used),
                still_falling=still_falling_text(dict(zip(self.needs, used, strict=True))),
            )
        try:
            holds, numbers = self.check(runs)
        except Undecidable as reason:
            return Verdict(**self._base(), status=INCONCLUSIVE, note=str(reason), **budget)
        if not get_profile(profile).decides_claims:
            return Verdict(**self._base(), status=INCONCLUSIVE, numbers=numbers, **budget,
                           note=f"profile {profile} is too small to decide any claim")  # fmt: skip
        return Verdict(
            **self._base(), status=REPRODUCED if holds else NOT_REPRODUCED, numbers=numbers, **budget
        )


def describe(verdict: Verdict, numbers: bool = False) -> list[str]:
    """A verdict for the terminal: its claim, status and budget on one line, then, indented, the
    numbers behind it (if ``numbers``), the note and the runs still falling when training stopped."""
    where = f"  [{verdict.decided_at}: {verdict.budget}]" if verdict.decided_at else ""
    lines = [f"{verdict.claim:<5} {verdict.status}{where}"]
    lines += [f"      {name}: {value}" for name, value in verdict.numbers.items()] if numbers else []
    lines += [f"      {text}" for text in (verdict.note, verdict.still_falling) if text]
    return lines


def keys_for(claims: Iterable[Claim]) -> list[tuple]:
    """Every run key the ``claims`` compare, once each, sorted."""
    return sorted({key for claim in claims for key in claim.needs})


def evaluate(claims: Iterable[Claim], runs: Runs | Evidence, profile: str) -> list[Verdict]:
    """Each claim's :meth:`Claim.evaluate`."""
    return [claim.evaluate(runs, profile) for claim in claims]


def at_every_budget(claims: Iterable[Claim], evidence: Evidence) -> dict[str, dict[Tier, Verdict]]:
    """Per claim, its verdict at every budget (tier, most-trained first) that holds all the runs it
    compares (:meth:`Claim.evaluate_at_every_budget`): how a verdict moves as training gets longer.
    A claim whose runs are never all stored at one budget has none."""
    return {claim.id: claim.evaluate_at_every_budget(evidence) for claim in claims}


def budget_history(found: dict[Tier, Verdict]) -> str:
    """One claim's verdicts (:func:`at_every_budget`), least-trained first, e.g.
    ``"cpu (6,000 it): not reproduced -> long (50,000 it): reproduced"``."""
    return " -> ".join(f"{tier_name(t)}: {found[t].status}" for t in tier_order(found)[::-1])


def waiting_for(
    claims: Iterable[Claim],
    evidence: Evidence,
    seeds_stored: Callable[[Tier, tuple], tuple[int, ...]] | None = None,
) -> dict[str, str]:
    """Per claim that a more-trained budget would decide once some runs are trained
    (:meth:`Claim.waiting_for`), e.g. ``"long (50,000 it): 5 of 8 runs stored; lacks MLP3
    CV(33k/131k) (seed 0 stored), ..."``: a lacking run some of whose seeds are stored on their own
    (``seeds_stored(tier, key)``, e.g. :func:`rdvae.inventory.seeds_stored`) names them, since
    ``evidence`` holds a configuration only once all its seeds are stored."""
    found = {}
    for claim in claims:
        if (waiting := claim.waiting_for(evidence)) is not None:
            tier, lacking = waiting
            named = []
            for key in lacking:
                seeds = seeds_stored(tier, key) if seeds_stored else ()
                stored = f" (seed {', '.join(map(str, seeds))} stored)" if seeds else ""
                named.append(label(key) + stored)
            found[claim.id] = (
                f"{tier_name(tier)}: {len(claim.needs) - len(lacking)} of {len(claim.needs)} runs stored; "
                "lacks " + ", ".join(named)
            )
    return found


@dataclass(frozen=True)
class RunToTrain:
    """A run that a more-trained budget lacks for some claims (:meth:`Claim.waiting_for`)."""

    tier: Tier  # where it is lacking
    key: tuple  # the run key
    claims: tuple[str, ...]  # the claims waiting for it there
    fewest_lacking: int  # the fewest runs any of those claims still lacks there, this one included


def runs_to_train(claims: Iterable[Claim], evidence: Evidence) -> list[RunToTrain]:
    """Every run some claim waits for (:meth:`Claim.waiting_for`), once per budget, with the claims
    it would help decide; the runs of the claims closest to being decided (fewest runs lacking) first,
    then in the order the claims name them.  Training them, in this order, moves claims to more-trained
    budgets soonest (``rdvae verdicts --next``)."""
    waiting: dict[tuple[Tier, tuple], list[tuple[str, int]]] = {}
    for claim in claims:
        if (found := claim.waiting_for(evidence)) is not None:
            tier, lacking = found
            for key in lacking:
                waiting.setdefault((tier, key), []).append((claim.id, len(lacking)))
    return _fewest_lacking_first(waiting)


def _fewest_lacking_first(wanted: dict[tuple[Tier, tuple], list[tuple[str, int]]]) -> list[RunToTrain]:
    """``wanted``'s runs (each with the claims wanting it and how many runs each lacks) as
    :class:`RunToTrain`, the runs of the claims lacking fewest first; ties keep the claims' order."""
    listed = [
        RunToTrain(tier, key, tuple(c for c, _ in by), min(n for _, n in by))
        for (tier, key), by in wanted.items()
    ]
    return sorted(listed, key=lambda run: run.fewest_lacking)  # stable


def runs_to_extend(claims: Iterable[Claim], evidence: Evidence) -> list[RunToTrain]:
    """The runs that would bring each claim up to the most-trained budget its profile's store holds
    any run at: for a claim decided at a profile's tier below that budget, of which no more-trained
    tier holds a single run (:meth:`Claim.waiting_for` finds none), all the runs it compares at that
    budget, once per run with the claims it is for, the claims comparing fewest runs first.  Where the
    ``long`` store holds some configurations extended to 100,000 iterations, these are the runs that
    would decide the claims still decided at its 50,000 (``rdvae verdicts --next``, after
    :func:`runs_to_train` and :func:`runs_to_start`).  Budgets are counted in examples seen: a run
    trained at a larger batch (appendix A-8's objective variants) gets the iterations that see as many
    examples as the others' (:func:`_iterations_per_profile_iteration`)."""
    most: dict[str, float] = {}  # per profile, its most-trained run, in iterations at the profile's batch
    for key, found in evidence.stored.items():
        for profile, iterations in found:
            scaled = iterations / _iterations_per_profile_iteration(profile, key)
            most[profile] = max(most.get(profile, 0.0), scaled)
    extending: dict[tuple[Tier, tuple], list[tuple[str, int]]] = {}
    for claim in claims:
        holding = claim.budgets_holding(evidence)
        if not holding or claim.waiting_for(evidence) is not None:
            continue
        profile, decided = holding[0]
        for key in claim.needs:
            target = round(most[profile] * _iterations_per_profile_iteration(profile, key))
            if target > decided:
                extending.setdefault(((profile, target), key), []).append((claim.id, len(claim.needs)))
    return _fewest_lacking_first(extending)


def _iterations_per_profile_iteration(profile: str, key: tuple) -> float:
    """Iterations of ``key``'s run at ``profile`` per iteration of the profile's own budget: 1, but
    1/4 for an objective variant of appendix A-8, trained at batch 512 where the others use 128."""
    return config_for(profile, key).iterations / get_profile(profile).training.iterations


def runs_to_start(claims: Iterable[Claim], evidence: Evidence, profile: str) -> list[RunToTrain]:
    """The runs, at ``profile``'s own budget, of the claims decided below ``profile`` (or at no budget)
    of which no budget above the one deciding them holds a single run (:meth:`Claim.waiting_for` finds
    none), once per run with the claims it is for, the claims comparing fewest runs first: what to
    train after :func:`runs_to_train`'s list to bring every claim up to ``profile``
    (``rdvae verdicts --next``).  A run's budget is ``profile``'s iterations for that run (an
    objective variant of appendix A-8 trains for the same epochs at a larger batch)."""
    rank = EVIDENCE_ORDER.index
    starting: dict[tuple[Tier, tuple], list[tuple[str, int]]] = {}
    for claim in claims:
        holding = claim.budgets_holding(evidence)
        if claim.waiting_for(evidence) is not None or (holding and rank(holding[0][0]) <= rank(profile)):
            continue
        for key in claim.needs:
            tier = (profile, config_for(profile, key).iterations)
            starting.setdefault((tier, key), []).append((claim.id, len(claim.needs)))
    return _fewest_lacking_first(starting)


def next_runs(
    claims: Iterable[Claim], evidence: Evidence, profile: str
) -> tuple[list[RunToTrain], str | None, list[RunToTrain]]:
    """What to train next, as ``rdvae verdicts --next`` lists it and a lent GPU's session takes it:
    (:func:`runs_to_train`, the profile above ``profile`` or None, :func:`runs_to_start` at that
    profile, empty where there is none)."""
    claims = list(claims)
    above = profile_above(profile)
    return runs_to_train(claims, evidence), above, runs_to_start(claims, evidence, above) if above else []


def changes_with_budget(by_claim: dict[str, dict[Tier, Verdict]]) -> dict[str, str]:
    """The claims whose verdict differs between budgets, each with its :func:`budget_history`."""
    return {
        claim: budget_history(found)
        for claim, found in by_claim.items()
        if len({verdict.status for verdict in found.values()}) > 1
    }


def verdict_history(claims: Iterable[Claim], runs: Runs | Evidence) -> dict[str, str]:
    """:func:`changes_with_budget` of ``claims`` on ``runs``' every budget: what a figure's chapter
    prints beside its verdicts, so that a verdict that changed with training reads as such there too.
    Empty on the runs of a single budget (a theory chapter's table)."""
    if not isinstance(runs, Evidence):
        return {}
    return changes_with_budget(at_every_budget(claims, runs))
