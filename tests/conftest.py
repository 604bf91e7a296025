"""Test-wide settings: a private cache folder, so tests never read or write the user's cache, and
the rendered full dataset is never assumed (the smoke paths render only what they use)."""

import os
import shutil
import sys
import tempfile
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")
os.environ["RDVAE_CACHE"] = tempfile.mkdtemp(prefix="rdvae-test-cache-")
sys.path.insert(0, str(Path(__file__).parent))  # the test helpers (exact_coverage)

REPO = Path(__file__).resolve().parents[1]


def copy_book(target: Path) -> Path:
    """The book's sources (config, toc, chapters) in a scratch folder, so builds never touch the checkout."""
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(REPO / name, target / name)
    shutil.copytree(REPO / "book", target / "book", ignore=shutil.ignore_patterns("*.ipynb"))
    return target


@pytest.fixture(scope="session")
def smoke_book(tmp_path_factory):
    """The whole book built on the smoke profile, two chapters at a time: (root, index.html, the
    per-chapter log lines)."""
    from rdvae import book

    root = copy_book(tmp_path_factory.mktemp("book"))
    lines = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RDVAE_ROOT", str(root))
        index = book.build("smoke", "cpu", root=root, log=lines.append, jobs=2)
    return root, index, lines
