"""Sliders that keep working in the static book (no kernel): an ipywidgets 8 ``Stack`` of images whose
visible child is linked to a slider in the browser with ``jslink``.  The executed notebook stores the
widget state, Jupyter Book embeds it, and the vendored ``@jupyter-widgets/html-manager`` renders it.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import ipywidgets as W
import matplotlib.pyplot as plt


def figure_png(fig, dpi: int = 80) -> bytes:
    """PNG bytes of a matplotlib figure (small: the bytes are inlined into the page)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


def static_slider(pngs: Sequence[bytes], labels: Sequence, description: str) -> W.VBox:
    """A slider over ``labels`` showing ``pngs[i]``; linked in the browser, so no kernel is needed."""
    if len(pngs) != len(labels) or not pngs:
        raise ValueError(f"need one PNG per label, got {len(pngs)} PNGs for {len(labels)} labels")
    stack = W.Stack(children=[W.Image(value=p, format="png") for p in pngs], selected_index=0)
    slider = W.SelectionSlider(options=[str(label) for label in labels], index=0, description=description)
    W.jslink((slider, "index"), (stack, "selected_index"))
    return W.VBox([slider, stack])


def beta_slider(results, partition: str = "test") -> W.VBox:
    """Static β slider over a run: one :func:`rdvae.plots.beta_frame` per β, switched in the browser."""
    from rdvae.plots import beta_frame

    betas = sorted(set(results.reconstructions["betas"].tolist()))
    pngs = []
    for beta in betas:
        fig = beta_frame(results, beta, partition)
        pngs.append(figure_png(fig))
        plt.close(fig)
    return static_slider(pngs, [f"{b:g}" for b in betas], description="β")


def live_beta_slider(results, partition: str = "test"):
    """The same view with a running kernel (JupyterLab): an ``interact`` slider that redraws."""
    from rdvae.plots import beta_frame

    betas = sorted(set(results.reconstructions["betas"].tolist()))

    def show(beta):
        beta_frame(results, beta, partition)
        plt.show()

    return W.interact(show, beta=W.SelectionSlider(options=betas, value=betas[0], description="β"))
