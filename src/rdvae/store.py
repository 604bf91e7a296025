"""The results store: one folder per completed run, named by its run id.

``<store>/<run_id>/`` holds

- ``config.json``          the frozen :class:`~rdvae.config.RunConfig` and its run id
- ``members.csv``          one row per (beta, seed, partition): n, rate, distortion, elbo, log_px, mi,
                           marginal_kl, status (``ok`` or ``diverged``), diverged_at, best_iteration
                           (early stopping); on train rows mi_exact, marginal_kl_exact; on test rows
                           the memorisation diagnostic: memorisation_weight(_2, _3),
                           distance_to_optimal, distance_to_input, bce_to_optimal, bce_to_input
- ``curves.csv``           learning curves: iteration, beta, seed, partition, rate, distortion
- ``reconstructions.npz``  the hard test example, its nearest training image, and every member's
                           reconstruction of it (so figures and sliders need no model)
- ``provenance.json``      package version, git commit, torch version, device, wall time

Smaller experiments whose result is one table (the theory chapters) use :func:`save_table` and
:func:`load_table`: ``<store>/tables/<name>-<hash of its config>/`` with ``config.json``,
``rows.csv`` and ``provenance.json``, written and checked the same way.

CSV rather than Parquet: the tables are small (at most a few thousand rows), a committed store stays
readable and diffable in git, and no extra dependency is needed.  A run is written to a temporary
folder and renamed into place, so a folder that exists is complete.  On load, a folder whose files do
not parse, or whose config does not hash to its name, raises :class:`StoreError`; it is never used.
Checkpoints of unfinished runs live in the cache folder, not here.  A configuration of several seeds
may be stored as one run per seed instead (its seed shards), which :func:`load` assembles; a run
that adds betas to a stored configuration's grid is merged into it by :func:`load_with_extra_betas`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from rdvae import paths
from rdvae.config import RunConfig

STORE_ENV = "RDVAE_STORE"
MEMBER_COLUMNS = (
    "beta", "seed", "partition", "n", "rate", "distortion", "elbo", "log_px", "mi", "marginal_kl",
    "status", "diverged_at", "best_iteration", "memorisation_weight", "distance_to_optimal",
    "distance_to_input", "mi_exact", "marginal_kl_exact", "memorisation_weight_2", "memorisation_weight_3",
    "bce_to_optimal", "bce_to_input",
)  # fmt: skip
# Columns added after runs were committed: a members.csv written before them reads them as empty.
LATER_MEMBER_COLUMNS = MEMBER_COLUMNS[MEMBER_COLUMNS.index("mi_exact") :]
CURVE_COLUMNS = ("iteration", "beta", "seed", "partition", "rate", "distortion")
_INT_COLUMNS = {"seed", "n", "iteration", "diverged_at", "best_iteration"}
_TEXT_COLUMNS = {"partition", "status"}


class StoreError(RuntimeError):
    """A run folder exists but cannot be trusted (does not parse, or does not match its config)."""


@dataclass
class RunResults:
    config: RunConfig
    members: list[dict]
    curves: list[dict]
    reconstructions: dict[str, np.ndarray]
    provenance: dict = field(default_factory=dict)
    profile: str | None = None  # the profile whose store it was read from (set by rdvae.runs)

    def rows(self, partition: str | None = None, status: str | None = None) -> list[dict]:
        return [
            r
            for r in self.members
            if (partition is None or r["partition"] == partition)
            and (status is None or r["status"] == status)
        ]


def store_dir(store: str | Path | None = None) -> Path:
    """The store folder: ``store`` if given, else ``$RDVAE_STORE``, else ``<book root>/results``."""
    if store is not None:
        return Path(store)
    if os.environ.get(STORE_ENV):
        return Path(os.environ[STORE_ENV])
    return paths.repo_root() / "results"


def profile_store(profile: str) -> Path:
    """Where the book keeps a profile's runs: ``<store>/<profile>/`` (``results/smoke`` is git-ignored)."""
    return store_dir() / profile


def _write_csv(path: Path, rows: list[dict], columns: tuple[str, ...]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: _format(row.get(c)) for c in columns})
    path.write_text(buffer.getvalue())


def _format(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)  # round-trips exactly
    return str(value)


def _parse(column: str, text: str):
    if text == "":
        return None
    if column in _TEXT_COLUMNS:
        return text
    if column in _INT_COLUMNS:
        return int(text)
    return float(text)


def _read_csv(path: Path, columns: tuple[str, ...], optional: tuple[str, ...] = ()) -> list[dict]:
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        missing = set(columns) - set(reader.fieldnames or ()) - set(optional)
        if missing:
            raise StoreError(f"{path} lacks columns {sorted(missing)}")
        return [{c: _parse(c, row.get(c, "")) for c in columns} for row in reader]


def save(results: RunResults, store: str | Path | None = None) -> Path:
    """Write a completed run atomically; return its folder."""
    root = store_dir(store)
    root.mkdir(parents=True, exist_ok=True)
    final = root / results.config.run_id
    tmp = root / f".{results.config.run_id}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    config = {"run_id": results.config.run_id, **results.config.to_json()}
    (tmp / "config.json").write_text(json.dumps(config, indent=2))
    _write_csv(tmp / "members.csv", results.members, MEMBER_COLUMNS)
    _write_csv(tmp / "curves.csv", results.curves, CURVE_COLUMNS)
    np.savez_compressed(tmp / "reconstructions.npz", **results.reconstructions)
    (tmp / "provenance.json").write_text(json.dumps(results.provenance, indent=2))
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    return final


def load(config: RunConfig, store: str | Path | None = None) -> RunResults | None:
    """The stored results of ``config``, or None if it has not been run; :class:`StoreError` if the
    folder exists but is unusable (the message names the file and what is wrong).  A configuration
    of several seeds that was trained one seed at a time is assembled from its seed shards
    (:func:`load_seed_shards`)."""
    folder = store_dir(store) / config.run_id
    if not folder.exists():
        return load_seed_shards(config, store)
    return load_folder(folder, expected=config)


def stored_iterations(config: RunConfig, store: str | Path | None = None) -> list[int]:
    """The iteration counts at which ``config`` (every field but ``iterations``) has runs in the
    store, whole or as seed shards, longest first.  A configuration trained longer than its
    profile's budget (``rdvae train --iterations 100000 --keep-state``, continuing the kept state of
    the profile's run) is stored beside it under another run id; this is how it is found.  Only the
    folders named like ``config``'s runs are read; one whose config.json is unreadable raises
    :class:`StoreError` naming it."""
    found = {
        saved.iterations
        for saved in _family_configs(config, store)
        if config.same_except(saved, "iterations", "seeds") and set(saved.seeds) <= set(config.seeds)
    }
    return sorted(found, reverse=True)


def _family_configs(config: RunConfig, store: str | Path | None) -> list[RunConfig]:
    """The configs of the run folders named like ``config``'s (same dataset, architecture, split and
    objective); :class:`StoreError` naming a folder whose config.json is unreadable."""
    family = config.run_id.rsplit("-", 1)[0]  # <dataset->arch-split<-objective>, without the hash
    configs = []
    for folder in sorted(store_dir(store).glob(f"{family}-*")):
        try:
            configs.append(_read_config(folder)[1])
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise _unusable(folder, err) from None
    return configs


def stored_runs(store: str | Path | None = None) -> list[tuple[Path, RunConfig, dict]]:
    """Every run folder in the store, by name: its path, config and provenance (``config.json`` and
    ``provenance.json`` only, so it is quick).  Folders without a ``config.json`` (``tables/``) are
    not runs, nor are the hidden folders :func:`save` writes before it renames them; a run folder that
    does not parse, or whose name is not its config's run id, raises :class:`StoreError` naming it."""
    found = []
    for folder in sorted(path.parent for path in store_dir(store).glob("*/config.json")):
        if folder.name.startswith("."):  # being written
            continue
        config = _named_config(folder)
        try:
            provenance = json.loads((folder / "provenance.json").read_text())
        except (OSError, ValueError) as err:
            raise _unusable(folder, err) from None
        found.append((folder, config, provenance))
    return found


def _read_config(folder: Path) -> tuple[str, RunConfig]:
    """The run id a run folder's config.json records, and its config."""
    raw = json.loads((folder / "config.json").read_text())
    run_id = raw.pop("run_id")
    return run_id, RunConfig.from_json({k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})


def _unusable(folder: Path, err: Exception) -> StoreError:
    return StoreError(f"run folder {folder} is unusable ({type(err).__name__}: {err}); delete it to retrain")


def _misnamed(folder: Path, config: RunConfig, recorded: str) -> StoreError:
    return StoreError(
        f"run folder {folder} holds a config hashing to {config.run_id}, not {folder.name} "
        f"(recorded {recorded}); it was edited or copied under the wrong name; delete it to retrain"
    )


def _named_config(folder: Path) -> RunConfig:
    """A run folder's config, checked to hash to the folder's name and to the run id it records."""
    try:
        run_id, config = _read_config(folder)
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise _unusable(folder, err) from None
    if run_id != config.run_id or folder.name != config.run_id:
        raise _misnamed(folder, config, run_id)
    return config


def load_folder(folder: Path, expected: RunConfig | None = None) -> RunResults:
    config = _named_config(folder)
    try:
        members = _read_csv(folder / "members.csv", MEMBER_COLUMNS, optional=LATER_MEMBER_COLUMNS)
        curves = _read_csv(folder / "curves.csv", CURVE_COLUMNS)
        with np.load(folder / "reconstructions.npz") as archive:
            reconstructions = {k: archive[k] for k in archive.files}
        provenance = json.loads((folder / "provenance.json").read_text())
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise _unusable(folder, err) from None
    if expected is not None and config != expected:
        raise StoreError(f"run folder {folder} does not hold the requested config; delete it to retrain")
    expected_rows = 2 * len(config.betas) * len(config.seeds)
    if len(members) != expected_rows:
        raise StoreError(f"{folder / 'members.csv'} has {len(members)} rows, expected {expected_rows}")
    return RunResults(config, members, curves, reconstructions, provenance)


def load_curves(folder: Path) -> list[dict]:
    """Only the learning curves of a run folder (``curves.csv``), for readers that need nothing else:
    :func:`load_folder` also reads ``members.csv`` and ``reconstructions.npz``, about half its time.
    The folder is checked as :func:`load_folder` checks it (its config hashes to its name)."""
    _named_config(folder)
    try:
        return _read_csv(folder / "curves.csv", CURVE_COLUMNS)
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise _unusable(folder, err) from None


# -------------------------------------------------------------------------------------- seed shards
#: reconstructions.npz arrays with one entry per member (leading axis); the others describe the data
#: (the hard example and its neighbour) and are the same in every shard of a configuration.
MEMBER_ARRAYS = (
    "betas", "seeds", "reconstructions", "optimal_reconstructions", "optimal_max_weight",
    "optimal_top_weights",
)  # fmt: skip


def _partition_rank(rows: list[dict]):
    """Sort key: a row's partition by the order partitions first appear in ``rows``."""
    rank = {name: k for k, name in enumerate(dict.fromkeys(r["partition"] for r in rows))}
    return lambda row: rank[row["partition"]]


def seed_shards(config: RunConfig) -> list[RunConfig]:
    """The one-seed configurations whose runs together are ``config``'s run, in seed order.

    Every member draws its initialisation, minibatches and noise from generators of its own seed
    (:func:`rdvae.models.member_generator`), so a seed trained alone is the same member as in the
    whole configuration; on a CPU, where members are stacked by 4, a configuration of 4 betas is
    even byte-identical (tests/test_train.py).  Shards let a configuration too long for one sitting
    be trained a seed at a time, on different days or machines (``rdvae train --seeds 0``, then
    ``--seeds 1``).  With early stopping too: a member that has stopped no longer counts, however
    long the others train (:class:`rdvae.train.Trainer`)."""
    if len(config.seeds) < 2:
        return []
    return [replace(config, seeds=(seed,)) for seed in config.seeds]


def stored_seed_shards(config: RunConfig, store: str | Path | None = None) -> list[RunConfig]:
    """The seed shards of ``config`` (:func:`seed_shards`) whose run folders are in the store."""
    return [shard for shard in seed_shards(config) if (store_dir(store) / shard.run_id).exists()]


def load_seed_shards(config: RunConfig, store: str | Path | None = None) -> RunResults | None:
    """``config``'s results assembled from its stored seed shards, or None unless every shard is
    stored (a configuration is never shown with some of its seeds missing)."""
    shards = seed_shards(config)
    folders = [store_dir(store) / shard.run_id for shard in shards]
    if not shards or not all(folder.exists() for folder in folders):
        return None
    parts = [load_folder(folder, expected=shard) for folder, shard in zip(folders, shards, strict=True)]
    return merge_seed_shards(config, parts)


def merge_seed_shards(config: RunConfig, parts: list[RunResults]) -> RunResults:
    """One run's results from its shards' (in seed order), in the order a run of the whole
    configuration writes them (:func:`_merge`)."""
    return _merge(config, parts, "seed_shards")


def _merge(config: RunConfig, parts: list[RunResults], provenance_key: str) -> RunResults:
    """``config``'s results from runs of disjoint sets of its members (``parts``), in the order a run
    of the whole configuration writes them: member rows by partition, then member; curve rows by
    iteration, then partition, then member (members are seed-major, :attr:`RunConfig.members`).  The
    parts must agree on the data (the hard example and its neighbour); their provenance is kept
    under ``provenance_key``."""
    first = parts[0].reconstructions
    for part in parts[1:]:
        for key in first.keys() - set(MEMBER_ARRAYS):
            if not np.array_equal(first[key], part.reconstructions[key]):
                raise StoreError(
                    f"runs {parts[0].config.run_id} and {part.config.run_id}, parts of {config.run_id}, "
                    f"disagree on {key!r} of the hard example; retrain the part made by older code"
                )
    index = {(float(beta), int(seed)): k for k, (beta, seed) in enumerate(config.members)}

    def member(row) -> int:
        return index[float(row["beta"]), int(row["seed"])]

    members = [row for p in parts for row in p.members]
    curves = [row for p in parts for row in p.curves]
    partition = _partition_rank(members)
    members.sort(key=lambda r: (partition(r), member(r)))
    partition = _partition_rank(curves)
    curves.sort(key=lambda r: (r["iteration"], partition(r), member(r)))
    joined = {
        key: np.concatenate([p.reconstructions[key] for p in parts]) for key in MEMBER_ARRAYS if key in first
    }
    pairs = zip(joined.get("betas", ()), joined.get("seeds", ()), strict=True)
    order = np.argsort([index[float(b), int(s)] for b, s in pairs])
    reconstructions = {key: joined[key][order] if key in joined else value for key, value in first.items()}
    provenance = {
        "device": "+".join(dict.fromkeys(p.provenance.get("device", "?") for p in parts)),
        "train_seconds": round(sum(p.provenance.get("train_seconds", 0.0) for p in parts), 1),
        **_summed_pauses(parts),
        "finished": max(p.provenance.get("finished", "") for p in parts),
        provenance_key: [{"run_id": p.config.run_id, **p.provenance} for p in parts],
    }
    return RunResults(config, members, curves, reconstructions, provenance)


def _summed_pauses(parts) -> dict:
    """``paused_seconds`` summed over the shards, where every shard records it (older ones don't)."""
    paused = [p.provenance.get("paused_seconds") for p in parts]
    return {} if None in paused else {"paused_seconds": round(sum(paused), 1)}


# ----------------------------------------------------------------------------------- extra betas
def extra_beta_grids(config: RunConfig, store: str | Path | None = None) -> list[tuple[float, ...]]:
    """The beta grids, disjoint from ``config``'s, of the runs stored (whole or as seed shards) that
    are ``config`` in every other field: runs that extend its grid, e.g. with the paper's beta = 2
    and 5 (``rdvae train --profile long ... --betas 2,5``).  Sorted, so that the first of two
    overlapping grids is the one :func:`load_with_extra_betas` takes."""
    grids = {
        saved.betas
        for saved in _family_configs(config, store)
        if config.same_except(saved, "betas", "seeds")
        and set(saved.seeds) <= set(config.seeds)
        and not set(saved.betas) & set(config.betas)
    }
    return sorted(grids)


def load_with_extra_betas(config: RunConfig, store: str | Path | None = None) -> RunResults | None:
    """:func:`load`, with the members of every stored run that extends ``config``'s beta grid
    (:func:`extra_beta_grids`) and has all of its seeds: one run of the union of the grids, its config
    that union.  Every member draws from generators of its own seed
    (:func:`rdvae.models.member_generator`), so a member trained in an extension is the member a run
    of the whole grid trains (the same numbers where the stacks are the same, tests/test_train.py).
    None where ``config`` itself is not stored."""
    results = load(config, store)
    if results is None:
        return None
    parts, betas = [results], set(config.betas)
    for grid in extra_beta_grids(config, store):
        if betas.isdisjoint(grid) and (extension := load(replace(config, betas=grid), store)) is not None:
            parts.append(extension)
            betas |= set(grid)
    if len(parts) == 1:
        return results
    return _merge(replace(config, betas=tuple(sorted(betas))), parts, "beta_parts")


def restrict_betas(results: RunResults, betas: tuple[float, ...]) -> RunResults:
    """``results`` of the members at ``betas`` only (a subset of its grid), its config that grid:
    what a run of those betas would have stored (for comparing runs on the betas they share)."""
    kept = set(betas)
    recon = results.reconstructions
    mask = np.isin(recon.get("betas", ()), list(kept))
    return RunResults(
        replace(results.config, betas=tuple(b for b in results.config.betas if b in kept)),
        [r for r in results.members if r["beta"] in kept],
        [r for r in results.curves if r["beta"] in kept],
        {key: value[mask] if key in MEMBER_ARRAYS else value for key, value in recon.items()},
        results.provenance,
        results.profile,
    )


# ------------------------------------------------------------------------------------------- tables
def table_id(name: str, config: dict) -> str:
    """``<name>-<12 hex digits>``: the stable hash of the table's canonical JSON config."""
    canonical = json.dumps({"name": name, **config}, sort_keys=True, separators=(",", ":"))
    return f"{name}-{hashlib.sha256(canonical.encode()).hexdigest()[:12]}"


def _cell(value) -> str:
    return "true" if value is True else "false" if value is False else _format(value)


def _value(text: str):
    if text in ("true", "false"):
        return text == "true"
    if text == "":
        return None
    try:
        number = float(text)
    except ValueError:
        return text
    return int(text) if text.lstrip("-").isdigit() else number


def save_table(
    name: str, config: dict, rows: list[dict], provenance: dict, store: str | Path | None = None
) -> Path:
    """Write one experiment's table atomically; return its folder."""
    root = store_dir(store) / "tables"
    root.mkdir(parents=True, exist_ok=True)
    ident = table_id(name, config)
    final, tmp = root / ident, root / f".{ident}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    (tmp / "config.json").write_text(json.dumps({"table_id": ident, "name": name, **config}, indent=2))
    columns = list(dict.fromkeys(key for row in rows for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows({c: _cell(row.get(c)) for c in columns} for row in rows)
    (tmp / "rows.csv").write_text(buffer.getvalue())
    (tmp / "provenance.json").write_text(json.dumps(provenance, indent=2))
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    return final


@dataclass
class TableResults:
    """One experiment's table, as stored: its config, rows and provenance."""

    name: str
    config: dict
    rows: list[dict]
    provenance: dict
    profile: str | None = None  # the profile whose store it was read from

    def describe(self) -> str:
        """Its budget in a few words, from the config fields it has."""
        parts = [
            f"{self.config[k]:,} {label}"
            for k, label in (("dims", "dims"), ("iterations", "iterations"))
            if k in self.config
        ]
        for key in ("alphas", "betas", "seeds"):
            if key in self.config:
                parts.append(f"{len(self.config[key])} {key}")
        return f"{self.name}: " + ", ".join(parts)


def load_table(name: str, config: dict, store: str | Path | None = None) -> TableResults | None:
    """The table computed for ``config``, or None if there is none."""
    folder = store_dir(store) / "tables" / table_id(name, config)
    if not folder.exists():
        return None
    try:
        saved = json.loads((folder / "config.json").read_text())
        with open(folder / "rows.csv", newline="") as handle:
            rows = [{k: _value(v) for k, v in row.items()} for row in csv.DictReader(handle)]
        provenance = json.loads((folder / "provenance.json").read_text())
    except (OSError, ValueError) as err:
        raise StoreError(
            f"table {folder} is unusable ({type(err).__name__}: {err}); delete it to recompute"
        ) from None
    recorded = {k: v for k, v in saved.items() if k not in ("table_id", "name")}
    if saved.get("table_id") != folder.name or table_id(name, recorded) != folder.name:
        raise StoreError(f"table {folder} does not hold the config its name hashes; delete it to recompute")
    return TableResults(name, recorded, rows, provenance)
