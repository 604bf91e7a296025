"""Reading a results store: what ``rdvae runs``, ``rdvae runs --twins --budgets`` and chapter 14 cost,
with :meth:`RunConfig.same_except` comparing fields one by one (now) against building the config
with the other's fields and comparing (before 2026-12-07; each build recomputes the config's split),
in the same process.

Usage: ``python benchmarks/bench_store.py [--profile long]``; writes
``benchmarks/results/store-<profile>.json``.  Each reader runs once to warm the file cache, then the
two comparisons are timed in 3 interleaved rounds (the best round of each counts), and their results
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

READERS = {
    "inventory.stored_configurations": inventory.stored_configurations,
    "twins.find_twins": twins.find_twins,
    "budget_change.budget_changes": budget_change.budget_changes,
}


def same_except_by_building(self: RunConfig, other: RunConfig, *names: str) -> bool:
    """The comparison before: ``self`` rebuilt with ``other``'s ``names``, compared with ``other``."""
    return replace(self, **{name: getattr(other, name) for name in names}) == other


def _seconds(reader, profile: str) -> tuple[float, object]:
    start = time.perf_counter()
    result = reader(profile)
    return time.perf_counter() - start, result


def measure(profile: str, rounds: int = 3) -> list[dict]:
    by_fields = RunConfig.same_except
    rows = []
    for name, reader in READERS.items():
        reader(profile)  # warm the file cache
        times = {"by_building": [], "by_fields": []}
        results = {}
        for _ in range(rounds):
            for layout, method in (("by_building", same_except_by_building), ("by_fields", by_fields)):
                RunConfig.same_except = method
                try:
                    seconds, results[layout] = _seconds(reader, profile)
                finally:
                    RunConfig.same_except = by_fields
                times[layout].append(seconds)
        assert results["by_building"] == results["by_fields"], name
        before, now = min(times["by_building"]), min(times["by_fields"])
        rows.append({"reader": name, "before_s": before, "now_s": now, "ratio": before / now})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="long")
    args = parser.parse_args()
    rows = measure(args.profile)
    for row in rows:
        before, now = row["before_s"], row["now_s"]
        print(f"{row['reader']:<34} before {before:.3f} s  now {now:.3f} s  {row['ratio']:.1f}x")
    out = Path(__file__).parent / "results" / f"store-{args.profile}.json"
    out.write_text(json.dumps(rows, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
