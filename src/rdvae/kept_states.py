"""Final training states kept after a run, so that a longer run of the same configuration continues
from them instead of starting again (``rdvae train --keep-state``).

A finished run normally deletes its checkpoint.  Kept, the checkpoint moves to
``<cache>/kept/<run id>.pt``, beside ``<run id>.json`` (the config it was trained with, the index this
module searches).  Asked to train the same configuration for more iterations, the trainer continues
from the longest kept state (:func:`extendable`).  That gives the numbers of the longer run trained
from scratch, because nothing in a step depends on the total number of iterations: the learning rate
is constant and every member's minibatch order and noise come from its own generators, which the
state holds (``tests/test_train.py`` checks equality byte for byte).  Two runs are ruled out: a
shorter run whose last iteration is off the longer run's curve grid (its curves would hold a point
the longer run's do not), and early stopping (its stopping rule sees the whole run).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from rdvae import paths
from rdvae.config import RunConfig


def kept_dir() -> Path:
    """``<cache>/kept``: the kept final states, ``<run id>.pt`` and ``<run id>.json`` each."""
    return paths.cache_dir() / "kept"


def keep(checkpoint: Path, config: RunConfig) -> Path:
    """Move a finished run's final checkpoint into :func:`kept_dir`; returns its new path.  The
    config is written after the state is in place, so a crash between the two leaves no index entry
    pointing at nothing.  (``train.train_and_store`` refuses early-stopping runs before they train.)"""
    folder = kept_dir()
    folder.mkdir(parents=True, exist_ok=True)
    state = folder / f"{config.run_id}.pt"
    os.replace(checkpoint, state)
    index = folder / f"{config.run_id}.json"
    tmp = index.with_suffix(f".tmp-{os.getpid()}")
    tmp.write_text(json.dumps(config.to_json(), indent=2))
    os.replace(tmp, index)
    return state


def extendable(config: RunConfig) -> Path | None:
    """The kept state ``config`` can continue from: the same configuration trained for fewer
    iterations, ending on ``config``'s curve grid (``iterations % eval_every == 0``); the longest
    such, or None.  An unreadable index file raises with the fix rather than being passed over."""
    folder = kept_dir()
    if config.early_stopping or not folder.is_dir():
        return None
    best: tuple[int, Path] | None = None
    for index in folder.glob("*.json"):
        try:
            saved = RunConfig.from_json(json.loads(index.read_text()))
        except (OSError, ValueError, TypeError) as err:
            raise RuntimeError(
                f"kept-state index {index} is unreadable ({err}); delete it and its .pt"
            ) from None
        done = saved.iterations
        if not config.same_except(saved, "iterations"):
            continue
        state = index.with_suffix(".pt")
        if done < config.iterations and done % config.eval_every == 0 and state.is_file():
            if best is None or done > best[0]:
                best = (done, state)
    return None if best is None else best[1]
