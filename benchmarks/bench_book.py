"""What the smoke book's build costs, and what two of its speed-ups buy on this machine.

1. Chapters one at a time against two at a time (``rdvae book --jobs 2``): the smoke book's chapters
   executed (no HTML) in two fresh scratch copies, each with its own empty store and cache folder, so
   both train every smoke run.  The ratio is wall time with 2 jobs over wall time with 1.
2. Re-rendering against keeping rendered rows (``tetrominoes.RENDERED_ROWS_KEPT``): the 16 smoke
   configurations of Figure 4 trained in one process, with the kept rows switched off and on, each
   from an empty store.  The ratio is with kept rows over without.

Both baselines run in the same benchmark run as what they are compared with.  Run it on an otherwise
idle machine (pause long trainings with SIGSTOP/SIGCONT).

Usage: ``python benchmarks/bench_book.py``; writes ``benchmarks/results/book.json``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

BUILD = """
import sys, time
from pathlib import Path
from rdvae import book
root, jobs = Path(sys.argv[1]), int(sys.argv[2])
start = time.perf_counter()
book.build("smoke", "cpu", root=root, html=False, jobs=jobs, log=lambda line: None)
print(time.perf_counter() - start)
"""

FIGURE4 = """
import sys, time
from pathlib import Path
from rdvae import sweep, train
from rdvae.data import tetrominoes
tetrominoes.RENDERED_ROWS_KEPT = int(sys.argv[2])
configs, _ = sweep.plan("smoke", ["4"], Path(sys.argv[1]))
start = time.perf_counter()
for config in configs:
    train.run(config, store_path=sys.argv[1], progress=False)
print(time.perf_counter() - start)
"""


def timed(script: str, *args: str, cache: Path) -> float:
    """Seconds reported by ``script`` run in a fresh interpreter with its own cache folder."""
    env = {**os.environ, "RDVAE_CACHE": str(cache)}
    env.pop("RDVAE_ROOT", None)
    out = subprocess.run(
        [sys.executable, "-c", script, *args], env=env, capture_output=True, text=True, check=True
    ).stdout
    return float(out.strip().splitlines()[-1])


def scratch_book(folder: Path) -> Path:
    """The book's sources in ``folder`` (config, toc, chapters) as the test suite copies them, with the
    vendored JavaScript of this checkout if it has it, so the timed build fetches nothing."""
    sys.path.insert(0, str(REPO / "tests"))
    from conftest import copy_book

    folder.mkdir(parents=True)
    if (REPO / "_static").exists():
        shutil.copytree(REPO / "_static", folder / "_static")
    return copy_book(folder)


def comparison(what: str, baseline: tuple[str, float], variant: tuple[str, float]) -> dict:
    """One result row: both sides' labels and seconds, and the variant's time over the baseline's."""
    (baseline_label, baseline_s), (variant_label, variant_s) = baseline, variant
    return {
        "what": what,
        "baseline": baseline_label,
        "baseline_s": round(baseline_s, 1),
        "variant": variant_label,
        "variant_s": round(variant_s, 1),
        "ratio": round(variant_s / baseline_s, 3),
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        builds = {
            jobs: timed(
                BUILD, str(scratch_book(tmp / f"book-{jobs}")), str(jobs), cache=tmp / f"cache-{jobs}"
            )
            for jobs in (1, 2)
        }
        kept = {
            n: timed(FIGURE4, str(tmp / f"store-{n}"), str(n), cache=tmp / f"cache-f4-{n}")
            for n in (0, 16_384)
        }
    rows = [
        comparison("smoke book chapters, wall seconds", ("--jobs 1", builds[1]), ("--jobs 2", builds[2])),
        comparison(
            "Figure 4's 16 smoke configurations in one process, seconds",
            ("no rendered rows kept", kept[0]),
            ("16,384 rows kept", kept[16_384]),
        ),
    ]
    from rdvae.device import cpu_model

    result = {"machine": cpu_model(), "cpus": os.cpu_count(), "rows": rows}
    out = REPO / "benchmarks" / "results" / "book.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
