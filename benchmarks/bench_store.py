"""Reading a results store: what ``rdvae runs``, ``rdvae runs --twins --budgets`` and chapter 14 cost,
before and after two changes of 2026-12-07, in the same process: :meth:`RunConfig.same_except`
comparing fields one by one instead of building the config with the other's fields (each build
recomputes the config's split), and :func:`rdvae.data.splits.get_split` computing each split once per
process instead of at every call.

Usage: ``python benchmarks/bench_store.py [--profile long]``; writes
``benchmarks/results/store-<profile>.json``.  Each reader runs once to warm the file cache, then the
three layouts (before, the first change only, both) are timed in 3 interleaved rounds (the best round
of each counts; the split cache is emptied before each, as in a fresh process), and their results
are checked to be equal.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

from rdvae import budget_change, inventory, twins
from rdvae.config import RunConfig
from rdvae.data import splits

READERS = {
    "inventory.stored_configurations": inventory.stored_configurations,
    "rdvae runs (its table rows)": lambda profile: [
        c.row() for c in inventory.stored_configurations(profile)
    ],
    "twins.find_twins": twins.find_twins,
    "budget_change.budget_changes": budget_change.budget_changes,
}


def same_except_by_building(self: RunConfig, other: RunConfig, *names: str) -> bool:
    """The comparison before: ``self`` rebuilt with ``other``'s ``names``, compared with ``other``."""
    return replace(self, **{name: getattr(other, name) for name in names}) == other


CACHED_SPLIT = splits._split
LAYOUTS = {  # name -> (same_except, the split function get_split calls)
    "before": (same_except_by_building, CACHED_SPLIT.__wrapped__),
    "fields": (RunConfig.same_except, CACHED_SPLIT.__wrapped__),
    "now": (RunConfig.same_except, CACHED_SPLIT),
}


def measure(profile: str, rounds: int = 3) -> list[dict]:
    by_fields = RunConfig.same_except
    rows = []
    for name, reader in READERS.items():
        reader(profile)  # warm the file cache
        times = {layout: [] for layout in LAYOUTS}
        results = {}
        for _ in range(rounds):
            for layout, (same_except, split) in LAYOUTS.items():
                RunConfig.same_except, splits._split = same_except, split
                CACHED_SPLIT.cache_clear()  # "now" computes each split once, as a fresh process does
                try:
                    start = time.perf_counter()
                    results[layout] = reader(profile)
                    times[layout].append(time.perf_counter() - start)
                finally:
                    RunConfig.same_except, splits._split = by_fields, CACHED_SPLIT
        assert results["before"] == results["fields"] == results["now"], name
        best = {layout: min(seconds) for layout, seconds in times.items()}
        rows.append(
            {"reader": name, **{f"{k}_s": v for k, v in best.items()}, "ratio": best["before"] / best["now"]}
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="long")
    args = parser.parse_args()
    rows = measure(args.profile)
    for row in rows:
        times = "  ".join(f"{layout} {row[layout + '_s']:.3f} s" for layout in LAYOUTS)
        print(f"{row['reader']:<34} {times}  before/now {row['ratio']:.1f}x")
    out = Path(__file__).parent / "results" / f"store-{args.profile}.json"
    out.write_text(json.dumps(rows, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
