"""What the results store holds: one row per stored configuration of a profile, with its budget and
the compute that trained it (``rdvae runs``; chapter 14's last section).

This is the evidence behind every figure and verdict, and how much of it there is.  A configuration
trained a seed at a time (:func:`rdvae.store.seed_shards`) is stored as one folder per seed; it is one
row here, with its seeds together.  The hours are each folder's ``provenance.json`` ``train_seconds``
(training only, not the final evaluation nor, where ``paused_seconds`` is recorded, the time the
process was stopped; a run that continued a kept shorter one, ``extended_from``, includes the shorter
run's): a row gives their sum, which is the configuration's core-hours where shards trained side by
side on one thread each, and the longest folder's, which is then the wall-clock time.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from rdvae import progress, runs, store
from rdvae.config import RunConfig
from rdvae.data.images import DatasetFileError


@dataclass(frozen=True)
class StoredConfiguration:
    """One configuration's stored runs (one folder, or one per seed shard)."""

    profile: str
    config: RunConfig  # with every stored seed
    folders: tuple[str, ...]  # run ids, in seed order
    train_seconds: tuple[float, ...]  # per folder
    devices: tuple[str, ...]  # per folder
    machines: tuple[str, ...]  # per folder: the GPU, or the CPU model and threads (where recorded)
    finished: str  # the latest folder's finishing time (UTC, ISO 8601)

    @property
    def machine(self) -> str:
        """The machines that trained the folders, once each."""
        return " + ".join(dict.fromkeys(self.machines))

    @property
    def hours(self) -> float:
        """Training hours summed over the folders."""
        return sum(self.train_seconds) / 3600

    @property
    def longest_hours(self) -> float:
        """The longest folder's training hours: the wall-clock time where shards trained side by side."""
        return max(self.train_seconds) / 3600

    def row(self) -> dict:
        """The configuration as one table row (chapter 14, ``rdvae runs``)."""
        cfg = self.config
        return {
            "configuration": runs.label(runs.run_key(cfg, self.profile)),
            "profile": self.profile,
            "iterations": cfg.iterations,
            "batch": cfg.batch_size,
            "epochs": _epochs(cfg),
            "betas": f"{len(cfg.betas)} ({min(cfg.betas):g}-{max(cfg.betas):g})",
            "seeds": ",".join(map(str, cfg.seeds)),
            "hours": round(self.hours, 2),
            "longest folder, hours": round(self.longest_hours, 2),
            "device": "+".join(dict.fromkeys(self.devices)),
            "machine": self.machine,
            "finished": self.finished[:10],
            "folders": len(self.folders),
        }


def stored_configurations(profile: str, folder: str | Path | None = None) -> list[StoredConfiguration]:
    """Every configuration stored for ``profile`` (in ``folder``, by default ``results/<profile>``),
    seed shards of one configuration merged, ordered by split, variant, architecture and iterations.

    Folders merge when their configs differ only in their seeds; a seed stored twice (a whole run and
    a shard of it) is one configuration's seed, counted once, from the whole run."""
    folder = store.profile_store(profile) if folder is None else Path(folder)
    groups: list[list[tuple[Path, RunConfig, dict]]] = []
    for found in sorted(store.stored_runs(folder), key=lambda f: -len(f[1].seeds)):  # runs before shards
        _, config, _ = found
        group = next((g for g in groups if g[0][1].same_except(config, "seeds")), None)
        if group is None:
            groups.append([found])
        elif not set(config.seeds) & {s for _, c, _ in group for s in c.seeds}:
            group.append(found)
        # else: a shard of a run listed already, whose seeds count once, from the run
    merged = [_merge(profile, group) for group in groups]
    return sorted(merged, key=_order)


def _order(stored: StoredConfiguration) -> tuple:
    """By split, then variant, then architecture, then iterations: the depths of one panel together."""
    split, arch, *variants = runs.run_key(stored.config, stored.profile)
    return split, variants, arch, stored.config.iterations


def _merge(profile: str, group: list[tuple[Path, RunConfig, dict]]) -> StoredConfiguration:
    group = sorted(group, key=lambda found: min(found[1].seeds))
    seeds = tuple(s for _, config, _ in group for s in config.seeds)
    return StoredConfiguration(
        profile=profile,
        config=replace(group[0][1], seeds=seeds),
        folders=tuple(path.name for path, _, _ in group),
        train_seconds=tuple(float(prov.get("train_seconds", 0.0)) for _, _, prov in group),
        devices=tuple(str(prov.get("device", "?")) for _, _, prov in group),
        machines=tuple(machine(prov) for _, _, prov in group),
        finished=max(str(prov.get("finished", "")) for _, _, prov in group),
    )


def _step_terms(config: RunConfig) -> tuple:
    """What a member's optimiser step costs, and whether the run stops early: its dataset,
    architecture, objective and batch size, and early stopping or not."""
    return config.dataset, config.arch, config.objective, config.batch_size, config.early_stopping


def alike_in_cost(config: RunConfig, stored: list[StoredConfiguration]) -> StoredConfiguration | None:
    """Of ``stored``, the configuration whose training hours best foretell ``config``'s, the latest
    finished: one whose step costs the same, whatever its split (:func:`_step_terms`, the same
    iterations and number of members).  None if none is alike."""

    def cost_terms(c: RunConfig) -> tuple:
        return *_step_terms(c), c.iterations, len(c.betas) * len(c.seeds)

    alike = [c for c in stored if cost_terms(c.config) == cost_terms(config)]
    return max(alike, key=lambda c: c.finished, default=None)


def member_steps(config: RunConfig) -> int:
    """Optimiser steps summed over a run's members: iterations x betas x seeds."""
    return config.iterations * len(config.betas) * len(config.seeds)


def alike_in_step(config: RunConfig, stored: list[StoredConfiguration]) -> StoredConfiguration | None:
    """Of ``stored`` (of any profile), the configuration whose step costs what ``config``'s does per
    member (:func:`_step_terms`), the most member-steps first, to scale its hours by.  None if none is."""
    alike = [c for c in stored if _step_terms(c.config) == _step_terms(config)]
    return max(alike, key=lambda c: (member_steps(c.config), c.finished), default=None)


def text_table(rows: list[dict]) -> list[str]:
    """Rows as fixed-width text lines under a header (for the terminal)."""
    if not rows:
        return []
    columns = list(rows[0])
    cells = [[_text(row[c]) for c in columns] for row in rows]
    widths = [max(len(c), *(len(line[k]) for line in cells)) for k, c in enumerate(columns)]
    lines = [columns, *cells]
    return ["  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in lines]


def _epochs(config: RunConfig) -> int | str:
    """The passes over its training set a run made, or "?" for a dataset whose files (which give the
    split's size) are not on this machine: its run was stored where they were."""
    try:
        return round(runs.epochs(config))
    except DatasetFileError:
        return "?"


def machine(provenance: dict) -> str:
    """What a run trained on; runs stored before the CPU model was recorded say only "cpu". A run whose
    processes trained on more than one machine (``machines``) names each with the iteration it took
    over at: "Intel Xeon (1 threads) until 26,015, then AMD EPYC (1 threads)"."""
    history = provenance.get("machines") or []
    if len(history) > 1:
        named = [entry["machine"] or "not recorded" for entry in history]
        until = [f" until {entry['from_iteration']:,}" for entry in history[1:]] + [""]
        return ", then ".join(name + end for name, end in zip(named, until, strict=True))
    name = str(provenance.get("device_name", ""))
    return "not recorded" if name in ("", "cpu") else name


def _where(stored: StoredConfiguration) -> str:
    """The machines a configuration's folders trained on, or their device where the model was not recorded."""
    named = {
        f"{device} (model not recorded)" if machine == "not recorded" else machine
        for device, machine in zip(stored.devices, stored.machines, strict=True)
    }
    return " and ".join(sorted(named))


def _text(value) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def total_hours(stored: list[StoredConfiguration]) -> float:
    """Training hours of all of them (summed over folders)."""
    return sum(c.hours for c in stored)


def training_plan(to_train: list) -> list[str]:
    """Each run to train (:func:`rdvae.ledger.runs_to_train`) as its ``rdvae train`` command, then the
    claims it is for and the hours an alike stored run took (:func:`alike_in_cost`), and on what
    machine, or where none is stored at its profile, the hours of a run of any profile that steps alike
    per member scaled by member-steps (:func:`alike_in_step`); and, for a run already begun, the seeds
    stored on their own (:func:`stored_shards`) and how far its checkpoints are, with the hours they
    have left (:func:`started`): ``rdvae verdicts --next`` and chapter 14.  The runs already begun come
    first, since part of their training is done; the others keep ``to_train``'s order."""
    if not to_train:
        return ["  none: every claim is decided at the most-trained budget that holds any of its runs"]
    stored: dict[str, list[StoredConfiguration]] = {}
    checkpoints = progress.in_progress()
    plans: list[tuple[bool, list[str]]] = []  # (begun, its lines) per run
    for run in to_train:
        profile, iterations = run.tier
        for each in (profile, *runs.EVIDENCE_ORDER):
            if each not in stored:
                stored[each] = stored_configurations(each)
        config = runs.config_for(profile, run.key, iterations=iterations)
        alike = alike_in_cost(config, stored[profile])
        name = runs.label(run.key)
        if alike:
            alike_name = runs.label(runs.run_key(alike.config, alike.profile))
            cost = (
                f"{name} should take about as long as {alike_name} did: "
                f"{alike.hours:.1f} h of training, {alike.longest_hours:.1f} h for its longest folder, "
                f"on {_where(alike)}"
            )  # the machine, since a GPU's minutes foretell nothing of a CPU's hours
        else:
            cost = _scaled_cost(name, profile, config, [c for p in runs.EVIDENCE_ORDER for c in stored[p]])
        begun = stored_shards(config, profile) + started(config, checkpoints)
        lines = [
            f"  {runs.command(profile, run.key, iterations)}",
            f"      for {', '.join(run.claims)} at {runs.tier_name(run.tier)} "
            f"(lacking {run.fewest_lacking} run(s) there); {cost}",
        ]
        plans.append((bool(begun), lines + [f"      {line}" for line in begun]))
    begun_first = sorted(plans, key=lambda plan: not plan[0])  # stable
    return [line for _, lines in begun_first for line in lines]


def seeds_stored(tier: tuple[str, int], key: tuple) -> tuple[int, ...]:
    """The seeds of ``key``'s run at ``tier`` (profile, iterations) stored as seed shards of their
    own (:func:`rdvae.store.stored_seed_shards`): where a configuration is stored only in part, which
    part (:func:`rdvae.ledger.waiting_for`)."""
    profile, iterations = tier
    config = runs.config_for(profile, key, iterations=iterations)
    return tuple(shard.seeds[0] for shard in store.stored_seed_shards(config, store.profile_store(profile)))


def stored_shards(config: RunConfig, profile: str) -> list[str]:
    """A line naming the seed shards of ``config`` already stored at ``profile``, which its command
    loads rather than trains (:func:`rdvae.train.run`), or none."""
    shards = store.stored_seed_shards(config, store.profile_store(profile))
    if not shards:
        return []
    seeds, folders = (", ".join(str(s.seeds[0]) for s in shards), ", ".join(s.run_id for s in shards))
    return [f"stored already, seed {seeds} ({folders}): the command trains the others"]


def started(config: RunConfig, checkpoints: list[dict]) -> list[str]:
    """How far ``config``'s run is, from the checkpoints of it or of its seed shards among
    ``checkpoints`` (:func:`rdvae.progress.in_progress`), one line each in seed order: the iteration,
    the hours left at the speed of the last process that trained it (this run on this machine, a
    better guide than any stored run) and the command that resumes it (a shard's names its seed)."""
    seeds = {config.run_id: (), **{shard.run_id: shard.seeds for shard in store.seed_shards(config)}}
    ours = sorted(
        (c for c in checkpoints if c["run_id"] in seeds and "error" not in c),
        key=lambda c: seeds[c["run_id"]],
    )
    lines = []
    for found in ours:
        shard_seeds = seeds[found["run_id"]]  # (): the whole configuration's own checkpoint
        which = f"seed {shard_seeds[0]}" if shard_seeds else "the whole run"
        left = f", {progress.time_left(found)}" if found["hours_left"] is not None else ""
        lines.append(
            f"part-trained, {which}: {found['iteration']:,} of {found['iterations']:,} iterations{left}; "
            f"resume: {found['resume'] or 'the command that started it'}"
        )
    return lines


def _scaled_cost(name: str, profile: str, config: RunConfig, stored: list[StoredConfiguration]) -> str:
    """The training hours of ``config``, which no stored run of ``profile`` steps like, scaled by
    member-steps from the stored run of any profile that steps alike per member
    (:func:`alike_in_step`); a rough guide, since members per step and threads change a step's speed."""
    alike = alike_in_step(config, stored)
    if alike is None:
        return f"no alike run is stored at {profile} to tell how long {name} takes"
    wanted, done = member_steps(config), member_steps(alike.config)
    alike_name = runs.label(runs.run_key(alike.config, alike.profile))
    return (
        f"no alike run is stored at {profile}; scaled by member-steps ({wanted:,} against {done:,}) "
        f"from {alike_name} at {alike.profile}, which took {alike.hours:.1f} h on {_where(alike)}: "
        f"about {alike.hours * wanted / done:.1f} h of training in all "
        f"(a rough guide: members per step and threads change a step's speed)"
    )
