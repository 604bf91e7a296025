"""Figures shared by the chapters.  Each builder returns a matplotlib figure; :func:`finish` stamps it
with what produced it (profile, device, seeds, package version) and saves PNG and SVG copies under
``figures/<profile>/`` so a reader can take them into a paper.
"""

from rdvae.plots.common import finish, provenance_line, to_hwc
from rdvae.plots.data import (
    distortion_over_training,
    halving_iterations,
    hard_examples,
    image_grid,
    learning_curves,
    neighbour_distances,
    rd_plane_schematic,
    split_schematic,
)
from rdvae.plots.rd import Curve, Panel, beta_frame, information_figure, rd_figure

__all__ = [
    "Curve",
    "Panel",
    "beta_frame",
    "distortion_over_training",
    "information_figure",
    "rd_figure",
    "finish",
    "halving_iterations",
    "hard_examples",
    "image_grid",
    "learning_curves",
    "neighbour_distances",
    "provenance_line",
    "rd_plane_schematic",
    "split_schematic",
    "to_hwc",
]
