"""rdvae: an executable replication of *Rate-Regularization and Generalization in VAEs*.

Bozkurt, Esmaeili, Tristan, Brooks, Dy, van de Meent, AISTATS 2021 (arXiv 1911.04594).
Modules, one concern each:

- ``rdvae.data.tetrominoes``: the 163,840 factor tuples and the renderer (paper section 4.1).
- ``rdvae.data.splits``: Default, Checkerboard, CV(r) and CD(r) train/test splits (section 4.2).
- ``rdvae.data.neighbours``: nearest-neighbour pixel distances and the "hard" test example.
- ``rdvae.cache``: atomic, checksummed on-disk arrays.
- ``rdvae.profiles``: named compute budgets (``smoke``, ``cpu``, ``paper``).
- ``rdvae.plots`` / ``rdvae.widgets``: figures and the static β slider used by the chapters.
- ``rdvae.book`` / ``rdvae.cli``: the papermill + Jupyter Book pipeline and the ``rdvae`` command.
"""

__version__ = "0.1.0"
