"""Helpers every figure uses: the provenance footer, saving PNG and SVG copies."""

from __future__ import annotations

import numpy as np

import rdvae
from rdvae import paths


def provenance_line(profile: str, device: str = "cpu", seed: int | None = None, **extra) -> str:
    """``'rdvae 0.1.0 | profile=cpu | device=cpu | seed=0 | ...'``: the footer every figure carries."""
    parts = [f"rdvae {rdvae.__version__}", f"profile={profile}", f"device={device}"]
    if seed is not None:
        parts.append(f"seed={seed}")
    parts += [
        f"{key}={','.join(map(str, value)) if isinstance(value, (tuple, list)) else value}"
        for key, value in extra.items()
    ]
    return " | ".join(parts)


def finish(fig, name: str, profile: str, device: str = "cpu", seed: int | None = None, **extra):
    """Stamp ``fig`` with its provenance and save ``figures/<profile>/<name>.png`` and ``.svg``."""
    fig.text(
        0.995,
        0.003,
        provenance_line(profile, device, seed, **extra),
        ha="right",
        va="bottom",
        fontsize=6.5,
        color="0.45",
    )
    folder = paths.figures_dir(profile)
    for suffix in ("png", "svg"):
        fig.savefig(folder / f"{name}.{suffix}", dpi=150, bbox_inches="tight")
    return fig


def to_hwc(image: np.ndarray) -> np.ndarray:
    """(3, 32, 32) -> (32, 32, 3) for imshow."""
    return np.asarray(image).transpose(1, 2, 0)
