"""Figures of the theory chapters: the linear VAE's closed form (lines) against finite-N fits
(points, mean +- sd over seeds)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from rdvae.theory.linear_vae import collapse_threshold, phase, stationary


def _points(rows: list[dict], fixed: str, value: float, free: str, key: str):
    chosen = [r for r in rows if np.isclose(r[fixed], value)]
    xs = sorted({r[free] for r in chosen})
    values = [[r[key] for r in chosen if r[free] == x] for x in xs]
    return np.array(xs), np.array([np.mean(v) for v in values]), np.array([np.std(v) for v in values])


def linear_vae_error(rows: list[dict], betas=(0.05, 0.5, 1.0, 1.5)):
    """eps_g against alpha for several beta: closed form and simulation."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    alphas = np.geomspace(0.1, 100, 300)
    for beta, colour in zip(betas, plt.cm.viridis(np.linspace(0, 0.85, len(betas))), strict=True):
        ax.plot(alphas, [stationary(a, beta).eps_g for a in alphas], color=colour, label=f"β = {beta:g}")
        if any(np.isclose(r["beta"], beta) for r in rows):
            x, mean, sd = _points(rows, "beta", beta, "alpha", "eps_g")
            ax.errorbar(x, mean, yerr=sd, fmt="o", color=colour, ms=5, capsize=2)
    ax.axvline(1.0, color="0.6", ls=":", lw=1)
    ax.axhline(1.0, color="0.6", ls="--", lw=0.8)
    ax.text(1.05, 0.02, "α = (η/ρ)²", fontsize=7, color="0.4", transform=ax.get_xaxis_transform())
    ax.set(xscale="log", xlabel="α = n / N", ylabel="ε_g = ρ − 2√ρ|m| + q", title="Signal-recovery error")
    ax.legend(fontsize=7, title="lines: theory, dots: N-dim fits", title_fontsize=7)
    fig.tight_layout()
    return fig


def linear_vae_phases(rows: list[dict]):
    """The (alpha, beta) plane: collapse threshold, the three phases, and the fits (collapsed or not)."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    alphas, betas = np.geomspace(0.1, 100, 160), np.linspace(0.02, 2.8, 140)
    names = ("regularised", "learning", "overlearning")
    grid = np.array([[names.index(phase(stationary(a, b))) for a in alphas] for b in betas])
    ax.contourf(alphas, betas, grid, levels=[-0.5, 0.5, 1.5, 2.5], colors=["#e8e8e8", "#d4edda", "#f8d7da"])
    ax.plot(alphas, [collapse_threshold(a) for a in alphas], "k-", lw=1.5, label="β_c(α)")
    for collapsed, marker, label in ((False, "o", "fit: not collapsed"), (True, "x", "fit: collapsed")):
        chosen = [r for r in rows if bool(r["collapsed"]) == collapsed]
        ax.scatter([r["alpha"] for r in chosen], [r["beta"] for r in chosen], marker=marker, s=22, c="k",
                   label=label, zorder=3)  # fmt: skip
    for name, (x, y) in zip(names, ((3, 2.5), (8, 0.6), (0.15, 0.6)), strict=True):
        ax.text(x, y, name, fontsize=8, color="0.25")
    ax.set(xscale="log", xlabel="α = n / N", ylabel="β", title="Phases (shading: theory)")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def linear_vae_rate_distortion(rows: list[dict], alphas=(0.5, 2.0, 16.0)):
    """Train and test RD curves (beta varies along each) for several alpha, closed form and fits."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    betas = np.geomspace(0.01, 2.5, 200)
    for alpha, colour in zip(alphas, ("C3", "C1", "C0"), strict=True):
        states = [stationary(alpha, b) for b in betas]
        for partition, style in (("train", "--"), ("test", "-")):
            ax.plot([getattr(s, f"{partition}_rate") for s in states],
                    [getattr(s, f"{partition}_distortion") for s in states], style, color=colour,
                    label=f"α = {alpha:g}, {partition}")  # fmt: skip
            if any(np.isclose(r["alpha"], alpha) for r in rows):
                _, rate, _ = _points(rows, "alpha", alpha, "beta", f"{partition}_rate")
                _, distortion, _ = _points(rows, "alpha", alpha, "beta", f"{partition}_distortion")
                ax.plot(
                    rate, distortion, "o", color=colour, mfc="white" if partition == "train" else colour, ms=4
                )
    ax.set(
        xlabel="rate R (nats per sample)",
        ylabel="ΔD (nats per sample)",
        title="Rate-distortion, train and test",
    )
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def implicit_figure(rows: list[dict]):
    """Chapter 12: the beta-VAE against its deterministic approximation (and a plain autoencoder) on
    test images: -L_beta, the encoder-variance check, the Frechet distance and the curvature's
    off-diagonal mass, against beta."""
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.6))
    styles = {"beta-vae": ("C0", "o-", "β-VAE"), "deterministic": ("C1", "s--", "deterministic approx.")}
    test = [r for r in rows if r["partition"] == "test"]

    def series(objective: str, key: str):
        chosen = [r for r in test if r["objective"] == objective and r.get(key) is not None]
        betas = sorted({r["beta"] for r in chosen})
        return betas, [np.mean([r[key] for r in chosen if r["beta"] == b]) for b in betas]

    panels = (
        ("neg_objective", "−L_β on test images (nats)"),
        ("variance_ratio_median", "median σ² / (β / (β + h))"),
        ("frechet", "Fréchet distance, pixel-PCA features"),
        ("off_diagonal_mass", "off-diagonal mass of JᵀDJ"),
    )
    for ax, (key, title) in zip(axes, panels, strict=True):
        for objective, (colour, fmt, label) in styles.items():
            betas, values = series(objective, key)
            if betas:
                ax.plot(betas, values, fmt, color=colour, label=label, ms=5)
        _, plain = series("autoencoder", key)
        if plain:
            ax.axhline(plain[0], color="0.4", ls=":", label="autoencoder")
        ax.set(xscale="log", xlabel="β", title=title)
        ax.title.set_fontsize(9)
        ax.grid(alpha=0.3)
    axes[1].axhline(1.0, color="k", lw=0.8)
    axes[0].legend(fontsize=7)
    axes[3].legend(fontsize=7)
    fig.tight_layout()
    return fig
