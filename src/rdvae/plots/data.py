"""Figures of the data chapters: examples, split schematics, neighbour distances, learning curves and
the distortion curves along them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from rdvae import summary
from rdvae.plots.common import to_hwc

SPLIT_COLOURS = {1: "#1f77b4", 0: "#ff7f0e", -1: "#d0d0d0"}


def image_grid(images: np.ndarray, captions: Sequence[str], n_cols: int = 8, size: float = 1.25):
    """Figure 1: a grid of images with a caption (their factor values) under each tile."""
    n_rows = int(np.ceil(len(images) / n_cols))
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(n_cols * size, n_rows * size * 1.35), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, caption in zip(axes.flat, images, captions, strict=False):
        ax.imshow(to_hwc(image), interpolation="nearest")
        ax.set_title(caption, fontsize=6.5, pad=2)
    fig.tight_layout(pad=0.3)
    return fig


def split_schematic(schematic: Mapping[str, np.ndarray]):
    """Figure 2: the four split rules on 600 stratified points in two factors."""
    points = schematic["points"]
    titles = {
        "default": "Default (random 50/50)",
        "checkerboard": "Checkerboard",
        "cd": "Constant density (CD)",
        "cv": "Constant volume (CV)",
    }
    fig, axes = plt.subplots(1, 4, figsize=(12, 3.3), sharey=True)
    for ax, (key, title) in zip(axes, titles.items(), strict=True):
        labels = schematic[key]
        for value, name in ((-1, "not used"), (0, "test"), (1, "train")):
            chosen = labels == value
            if chosen.any():
                ax.scatter(
                    *points[chosen].T, s=7, color=SPLIT_COLOURS[value], label=f"{name} ({chosen.sum()})"
                )
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("factor 1")
        ax.set_aspect("equal")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3, frameon=False)
    axes[0].set_ylabel("factor 2")
    fig.tight_layout()
    return fig


def neighbour_distances(distances: Mapping[str, np.ndarray], labels: Mapping[str, str] | None = None):
    """Distributions of test-to-nearest-train pixel distances, one box per split, 90th percentile marked."""
    names = list(distances)
    labels = labels or {name: name for name in names}
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(names)), 3.8))
    data = [distances[name] for name in names]
    ax.boxplot(data, whis=(5, 95), showfliers=False)
    ax.scatter(
        range(1, len(names) + 1),
        [np.percentile(d, 90) for d in data],
        marker="v",
        color="C3",
        zorder=3,
        label="90th percentile (the hard example)",
    )
    ax.set_xticks(range(1, len(names) + 1), [labels[n] for n in names], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("l2 distance to nearest training image")
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def hard_examples(pairs: Mapping[str, tuple[np.ndarray, np.ndarray, float]]):
    """Per split: the 90th-percentile test image above its nearest training image and their distance."""
    fig, axes = plt.subplots(2, len(pairs), figsize=(1.5 * len(pairs), 3.4), squeeze=False)
    for column, (name, (test_image, train_image, distance)) in enumerate(pairs.items()):
        for row, image in enumerate((test_image, train_image)):
            ax = axes[row, column]
            ax.imshow(to_hwc(image), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
        axes[0, column].set_title(f"{name}\nd = {distance:.2f}", fontsize=7.5)
    axes[0, 0].set_ylabel("test", fontsize=8)
    axes[1, 0].set_ylabel("nearest\ntrain", fontsize=8)
    fig.tight_layout()
    return fig


def rd_plane_schematic(entropy: float, betas: Sequence[float] = (0.3, 1.0, 3.0)):
    """The RD plane of section 2: the bound D >= H - R, iso-ELBO lines D + R = c, and how beta sets
    the slope of the line L_beta = -D - beta R that the optimum touches.  Units: nats."""
    rate = np.linspace(0, 1.4 * entropy, 200)
    fig, ax = plt.subplots(figsize=(5.2, 4.2))
    ax.fill_between(rate, 0, np.maximum(entropy - rate, 0), color="0.88", label="infeasible: D < H - R")
    ax.plot(rate, np.maximum(entropy - rate, 0), color="k", lw=1.5, label="D = H - R (tight bounds)")
    for c in (1.15 * entropy, 1.35 * entropy):
        ax.plot(rate, c - rate, "--", color="0.55", lw=0.8)
    ax.plot([], [], "--", color="0.55", lw=0.8, label="iso-ELBO: D + R = const")
    for beta in betas:
        # tangent line of slope -beta through the kink (R, D) = (H, 0) for beta < 1, (0, H) for beta > 1
        r0, d0 = (entropy, 0.0) if beta < 1 else (0.0, entropy)
        ax.plot(rate, d0 - beta * (rate - r0), lw=1, label=f"-L_beta = D + {beta:g} R touches here")
        ax.scatter([r0], [d0], s=25, zorder=3)
    ax.set_xlim(0, rate[-1])
    ax.set_ylim(0, 1.4 * entropy)
    ax.set_xlabel("rate R (nats)")
    ax.set_ylabel("distortion D (nats)")
    ax.legend(fontsize=7.5, loc="upper right")
    fig.tight_layout()
    return fig


def learning_curves(curves: Sequence[Mapping], title: str = ""):
    """Train (solid) and test (dashed) rate and distortion against iteration, one colour per beta,
    averaged over seeds.  The distortion axis spans the points after the first tenth of training,
    where a curve still falling or already rising differs by a few nats out of a hundred (the first
    evaluations, hundreds of nats higher, run off the top)."""
    betas = sorted({row["beta"] for row in curves})
    colours = plt.cm.viridis(np.linspace(0, 0.9, len(betas)))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    last = max((row["iteration"] for row in curves), default=0)
    late_distortion = []
    for ax, metric in zip(axes, ("rate", "distortion"), strict=True):
        for beta, colour in zip(betas, colours, strict=True):
            for partition, style in (("train", "-"), ("test", "--")):
                rows = [r for r in curves if r["beta"] == beta and r["partition"] == partition]
                steps = sorted({r["iteration"] for r in rows})
                means = [np.mean([r[metric] for r in rows if r["iteration"] == s]) for s in steps]
                label = f"beta = {beta:g}" if partition == "train" else None
                ax.plot(steps, means, style, color=colour, label=label)
                if metric == "distortion":
                    late_distortion += [m for s, m in zip(steps, means, strict=True) if s >= 0.1 * last > 0]
        ax.set_xlabel("iteration")
        ax.set_ylabel(f"{metric} (nats)")
        ax.grid(alpha=0.3)
    finite = [value for value in late_distortion if np.isfinite(value)]
    if finite:
        low, high = min(finite), max(finite)
        margin = 0.05 * (high - low) + 0.5
        axes[1].set_ylim(low - margin, high + margin)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels) + 1, fontsize=7,
               title="solid: train, dashed: test", title_fontsize=7, frameon=False)  # fmt: skip
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return fig


def halving_iterations(curves: Sequence[Mapping], count: int = 5) -> list[int]:
    """Up to ``count`` evaluated iterations of the learning curves, halving back from the last one
    (last, ~last/2, ~last/4, ...; each the evaluated iteration nearest that), ascending; never the
    untrained iteration 0."""
    evaluated = sorted({row["iteration"] for row in curves if row["iteration"] > 0})
    if not evaluated:
        return []
    chosen = {min(evaluated, key=lambda it: abs(it - evaluated[-1] / 2**k)) for k in range(count)}
    return sorted(chosen)


def distortion_over_training(curves: Sequence[Mapping], iterations: Sequence[int], title: str = ""):
    """Train and test distortion against beta (log axis) at each of ``iterations`` of the learning
    curves, one colour per iteration (light: early), mean over seeds with bars of one sd: how the
    test curve bends into a U as training goes on (the U-shape of the paper's Figure 3, bottom left).
    """
    curves = list(curves)  # curve_by_beta takes a list; convert once, not per iteration
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    colours = plt.cm.viridis_r(np.linspace(0.1, 0.9, len(iterations)))
    for ax, partition in zip(axes, ("train", "test"), strict=True):
        for iteration, colour in zip(iterations, colours, strict=True):
            rows = summary.curve_by_beta(curves, partition, iteration)
            betas = [row["beta"] for row in rows]
            means = [row["distortion"] for row in rows]
            spread = [row["distortion_std"] for row in rows]
            ax.errorbar(betas, means, yerr=spread, color=colour, marker="o", ms=3.5, capsize=2,
                        label=f"iteration {iteration:,}")  # fmt: skip
        ax.set_xscale("log")
        ax.set_xlabel("beta")
        ax.set_ylabel(f"{partition} distortion (nats, curve subset)")
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=7, frameon=False)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig
