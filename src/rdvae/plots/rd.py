"""Rate-distortion figures as the paper draws them (section 4.4, Figures 3-6).

Rate on x, distortion on y, one point per beta: the mean over seeds with error bars of one standard
deviation; training curves dashed with hollow markers, test curves solid; beta = 1 marked with a white
star; dashed grey iso-ELBO lines D + R = c.  Above a panel, optionally, the hard test example (90th
percentile of nearest-training-neighbour distance), the first seed's reconstructions of it across
beta, and its nearest training image.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np

from rdvae import summary
from rdvae.plots.common import to_hwc
from rdvae.store import RunResults


@dataclass
class Curve:
    """One line on an RD panel: a run, its partition, and how to draw it."""

    results: RunResults
    partition: str = "test"
    label: str = ""
    colour: str | None = None


@dataclass
class Panel:
    title: str
    curves: list[Curve]
    strip: RunResults | None = None  # whose hard example (and reconstructions) to show above
    strip_betas: Sequence[float] | None = None
    note: str = ""  # shown inside an empty panel (e.g. which run is missing)
    extra: dict = field(default_factory=dict)


def draw_curve(ax, curve: Curve) -> None:
    rows = summary.by_beta(curve.results, curve.partition)
    if not rows:
        return
    rate, distortion = summary.column(rows, "rate"), summary.column(rows, "distortion")
    train = curve.partition == "train"
    line = ax.errorbar(
        rate, distortion, xerr=summary.column(rows, "rate_std"), yerr=summary.column(rows, "distortion_std"),
        fmt="--o" if train else "-o", color=curve.colour, mfc="white" if train else None, ms=4.5, lw=1.2,
        capsize=2, label=curve.label or curve.partition,
    )  # fmt: skip
    star = summary.at_beta(rows, 1.0)
    if star is not None:
        ax.plot(
            star["rate"],
            star["distortion"],
            marker="*",
            ms=13,
            mfc="white",
            mec=line[0].get_color(),
            zorder=5,
        )


def iso_elbo_lines(ax, spacing: float | None = None) -> None:
    """Dashed lines D + R = c across the current axis limits (slope -1)."""
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    low, high = x0 + y0, x1 + y1
    spacing = spacing or _nice_step((high - low) / 6)
    for c in np.arange(math.ceil(low / spacing) * spacing, high, spacing):
        ax.plot([x0, x1], [c - x0, c - x1], ls=":", color="0.7", lw=0.8, zorder=0)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)


def _nice_step(raw: float) -> float:
    exponent = 10 ** math.floor(math.log10(max(raw, 1e-9)))
    return min((m * exponent for m in (1, 2, 5, 10)), key=lambda s: abs(s - raw))


def _strip(fig, cell, results: RunResults, betas: Sequence[float] | None) -> None:
    recon = results.reconstructions
    all_betas, seeds = recon["betas"], recon["seeds"]
    first_seed = seeds.min()
    shown = sorted(betas or sorted(set(all_betas.tolist())), reverse=True)
    images = [("test", recon["test_image"])]
    for beta in shown:
        match = np.flatnonzero(np.isclose(all_betas, beta) & (seeds == first_seed))
        if len(match):
            images.append((f"β={beta:g}", recon["reconstructions"][match[0]]))
    images.append(("nearest\ntrain", recon["neighbour_image"]))
    grid = cell.subgridspec(1, len(images), wspace=0.05)
    for i, (title, image) in enumerate(images):
        ax = fig.add_subplot(grid[0, i])
        ax.imshow(np.clip(to_hwc(image), 0, 1), interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(title, fontsize=6, pad=1.5)


def rd_figure(panels: Sequence[Panel], n_cols: int = 2, panel_size: tuple[float, float] = (4.6, 3.6)):
    """A grid of RD panels, each with an optional image strip above it."""
    n_rows = math.ceil(len(panels) / n_cols)
    has_strip = any(p.strip is not None for p in panels)
    fig = plt.figure(figsize=(panel_size[0] * n_cols, panel_size[1] * n_rows * (1.3 if has_strip else 1)))
    outer = fig.add_gridspec(n_rows, n_cols, hspace=0.45, wspace=0.25)
    axes = []
    for index, panel in enumerate(panels):
        cell = outer[index // n_cols, index % n_cols]
        if has_strip:
            top, bottom = cell.subgridspec(2, 1, height_ratios=[0.9, 3.2], hspace=0.35)
            if panel.strip is not None:
                _strip(fig, top, panel.strip, panel.strip_betas)
            ax = fig.add_subplot(bottom)
        else:
            ax = fig.add_subplot(cell)
        for curve in panel.curves:
            draw_curve(ax, curve)
        if panel.curves:
            ax.margins(0.08)
            iso_elbo_lines(ax)
            ax.legend(fontsize=6.5, loc="upper right")
        if panel.note:
            ax.text(0.5, 0.5, panel.note, ha="center", va="center", fontsize=7, transform=ax.transAxes)
            ax.set_xticks([])
            ax.set_yticks([])
        ax.set_title(panel.title, fontsize=9)
        ax.set_xlabel("rate R (nats)", fontsize=8)
        ax.set_ylabel("distortion D (nats)", fontsize=8)
        ax.tick_params(labelsize=7)
        axes.append(ax)
    return fig


def information_figure(entries: Sequence[tuple[str, RunResults]], partition: str = "train"):
    """Figure 8: I(x;z) and KL(q(z)||p(z)) against beta (log axis), log N marked: the minibatch
    estimator (solid) and, where stored, the exact aggregate posterior (dashed, hollow); and the split
    R = I + KL at each beta as stacked bars (exact values where stored) against the analytic rate."""
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    for (name, results), colour in zip(entries, plt.cm.tab10.colors, strict=False):
        rows = summary.by_beta(results, partition)
        betas = summary.column(rows, "beta")
        for ax, metric in zip(axes[:2], ("mi", "marginal_kl"), strict=True):
            ax.errorbar(betas, summary.column(rows, metric), yerr=summary.column(rows, f"{metric}_std"),
                        fmt="-o", ms=4, capsize=2, color=colour, label=f"{name}, minibatch")  # fmt: skip
            exact = summary.column(rows, f"{metric}_exact")
            if np.isfinite(exact).all():
                ax.plot(betas, exact, "--o", ms=5, mfc="white", color=colour, label=f"{name}, exact q(z)")
        population = results.config.partition_sizes()[partition]
        axes[0].axhline(math.log(population), color=colour, ls=":", lw=0.9)
        axes[0].text(betas.min(), math.log(population), f" log N = {math.log(population):.2f}", color=colour,
                     fontsize=7, va="bottom")  # fmt: skip
    axes[0].set_ylabel("Î(x; z) (nats)")
    axes[1].set_ylabel("KL̂(q(z) || p(z)) (nats)")
    for ax in axes[:2]:
        ax.set_xscale("log")
        ax.set_xlabel("β")
        ax.grid(alpha=0.3)
        ax.axvline(1.0, color="0.6", lw=0.8)
    axes[0].legend(fontsize=6)
    name, results = entries[0]
    rows = summary.by_beta(results, partition)
    x = np.arange(len(rows))
    exact = np.isfinite(summary.column(rows, "mi_exact")).all()
    suffix = "_exact" if exact else ""
    mi, mkl = summary.column(rows, f"mi{suffix}"), summary.column(rows, f"marginal_kl{suffix}")
    axes[2].bar(x, mi, color="C0", label="Î(x; z)")
    axes[2].bar(x, mkl, bottom=mi, color="C1", label="KL̂(q(z) || p(z))")
    axes[2].plot(x, summary.column(rows, "rate"), "k_", ms=18, mew=2, label="rate R (analytic)")
    axes[2].set_xticks(x, [f"{b:g}" for b in summary.column(rows, "beta")])
    axes[2].set_xlabel("β")
    axes[2].set_ylabel("nats")
    axes[2].set_title(f"R = I + KL ({'exact q(z)' if exact else 'minibatch'}), {name}", fontsize=8)
    axes[2].legend(fontsize=7)
    fig.tight_layout()
    return fig


def beta_frame(results: RunResults, beta: float, partition: str = "test"):
    """One slider frame: the hard example, the first seed's reconstruction at ``beta``, the nearest
    training image, and where ``beta`` sits on the run's RD curve."""
    recon = results.reconstructions
    seed = recon["seeds"].min()
    i = int(np.flatnonzero(np.isclose(recon["betas"], beta) & (recon["seeds"] == seed))[0])
    fig = plt.figure(figsize=(7.2, 2.3))
    grid = fig.add_gridspec(1, 4, width_ratios=[1, 1, 1, 2.2], wspace=0.25)
    for k, (title, image) in enumerate(
        [("test image", recon["test_image"]), (f"β = {beta:g}", recon["reconstructions"][i]),
         ("nearest train", recon["neighbour_image"])]
    ):  # fmt: skip
        ax = fig.add_subplot(grid[0, k])
        ax.imshow(np.clip(to_hwc(image), 0, 1), interpolation="nearest")
        ax.set_title(title, fontsize=8)
        ax.set_axis_off()
    ax = fig.add_subplot(grid[0, 3])
    draw_curve(ax, Curve(results, partition, partition))
    point = summary.at_beta(summary.by_beta(results, partition), beta)
    if point is not None:
        ax.plot(point["rate"], point["distortion"], "o", ms=11, mfc="none", mec="C3", mew=2)
    ax.set_xlabel("R", fontsize=7)
    ax.set_ylabel("D", fontsize=7)
    ax.tick_params(labelsize=6)
    return fig
