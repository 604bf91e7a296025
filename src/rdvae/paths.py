"""Where things live: the book's root folder, the figures folder and the cache folder.

The working directory differs between papermill, JupyterLab and myst-nb, so every output path is
anchored at the repository root (the folder holding ``_toc.yml``), never at the process's cwd.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT_ENV = "RDVAE_ROOT"
CACHE_ENV = "RDVAE_CACHE"


def repo_root(start: Path | None = None) -> Path:
    """The book's root: ``$RDVAE_ROOT`` if set, else the nearest ancestor holding ``_toc.yml``."""
    if os.environ.get(ROOT_ENV):
        return Path(os.environ[ROOT_ENV]).resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "_toc.yml").is_file():
            return folder
    package_checkout = Path(__file__).resolve().parents[2]
    if (package_checkout / "_toc.yml").is_file():
        return package_checkout
    raise FileNotFoundError(
        f"no _toc.yml found above {here}; run from inside the rdvae checkout or set {ROOT_ENV}=<checkout>"
    )


def figures_dir(profile: str) -> Path:
    """``<root>/figures/<profile>/``: PNG and SVG copies of every figure a chapter draws."""
    folder = repo_root() / "figures" / profile
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def cache_dir() -> Path:
    """``$RDVAE_CACHE``, else ``$XDG_CACHE_HOME/rdvae``, else ``~/.cache/rdvae``."""
    if os.environ.get(CACHE_ENV):
        folder = Path(os.environ[CACHE_ENV])
    else:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        folder = Path(base) / "rdvae"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def checkpoint_dir() -> Path:
    """Where unfinished runs keep their checkpoints: ``<cache>/checkpoints`` (one ``<run id>.pt`` each,
    and the ``<run id>.lock`` that the process training it holds)."""
    return cache_dir() / "checkpoints"


def checkpoint_file(run_id: str) -> Path:
    """The checkpoint of the unfinished run ``run_id``: ``<cache>/checkpoints/<run id>.pt``."""
    return checkpoint_dir() / f"{run_id}.pt"
