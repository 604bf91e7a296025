"""The paper's figures, one call each, from the runs a chapter fetched (:func:`rdvae.runs.get_runs`).

A run that is missing at the chosen profile becomes a panel that says so and names the command that
produces it.  Every panel shows the most-trained run stored for its configuration
(:class:`rdvae.runs.Evidence`) and names its budget under the title, except that a panel comparing
configurations shows them at the budget they share (:func:`at_one_budget`); :func:`caption` lists which
budget each configuration was shown at, says when that is below the paper's protocol, and names the
runs that were still improving when training stopped.
"""

from __future__ import annotations

from collections import defaultdict

from rdvae import runs as run_keys
from rdvae import summary
from rdvae.config import PAPER_BATCH_SIZE, PAPER_ITERATIONS, PAPER_SEEDS
from rdvae.data import splits
from rdvae.ledger import LATE_FRACTION, still_falling, u_shape_holds_from, u_shape_over_training
from rdvae.plots import Curve, Panel, information_figure, rd_figure

TRAIN, TEST = "C0", "C3"
PAPER_EXAMPLES_SEEN = PAPER_ITERATIONS * PAPER_BATCH_SIZE  # per member, over the whole run


def caption(runs: dict, profile: str, more_trained: dict | None = None) -> str:
    """Which budget each configuration is shown at, whether that is below the paper's protocol, the
    runs still improving when training stopped and the hard example's source; ``more_trained`` names
    runs stored at a larger budget than a comparison panel shows them at (:func:`at_one_budget`)."""
    present = {key: r for key, r in runs.items() if r is not None}
    if not present:
        return f"profile {profile}: none of this figure's runs are in the store yet"
    shown = defaultdict(list)
    for key, results in present.items():
        shown[run_keys.budget(results)].append(run_keys.label(key))
    betas = sorted({b for r in present.values() for b in r.config.betas})
    below = any(run_keys.below_paper(r) for r in present.values())
    return (
        f"build profile {profile}; "
        + "; ".join(f"{budget}: {', '.join(labels)}" for budget, labels in shown.items())
        + f". β ∈ {{{', '.join(f'{b:g}' for b in betas)}}}, mean ± sd over seeds; "
        f"{len(present)} of {len(runs)} runs present"
        + (
            f". Below the paper's protocol ({PAPER_ITERATIONS:,} iterations × {len(PAPER_SEEDS)} seeds): "
            "read the curves as this budget's, not the paper's"
            if below
            else ""
        )
        + _still_falling_note(present)
        + _hard_example_note(present.values())
        + (
            ". Stored more trained, shown here at the budget their panel shares with the other sizes: "
            + "; ".join(f"{run_keys.label(key)} at {run_keys.budget(r)}" for key, r in more_trained.items())
            if more_trained
            else ""
        )
    )


def _still_falling_note(present: dict) -> str:
    """Names the runs whose test D was still falling when training stopped
    (:func:`rdvae.ledger.still_falling`): their curves would move with more training."""
    falling = [run_keys.label(key) for key, results in present.items() if still_falling(results)]
    if not falling:
        return ""
    return (
        f". Test D still falling over the last {LATE_FRACTION:.0%} of training (these curves would move "
        "with more): " + ", ".join(falling)
    )


def u_shape_onset(results) -> tuple[list[dict], str]:
    """The ledger's U-shape test along a run's learning curves (:func:`rdvae.ledger.u_shape_over_training`)
    and one sentence on when it began to hold for good, e.g. "U-shaped at every evaluation from
    iteration 45,000 of 100,000 on" or "not U-shaped at its last evaluation (iteration 50,000)"."""
    over = u_shape_over_training(results)
    if not over:
        return over, "too few betas on the learning curves to test a U-shape"
    since, last = u_shape_holds_from(over), over[-1]["iteration"]
    if since is None:
        return over, f"not U-shaped at its last evaluation (iteration {last:,})"
    return over, f"U-shaped at every evaluation from iteration {since:,} of {last:,} on"


def _hard_example_note(shown) -> str:
    """Where panels of one split show different hard examples, why: each run takes the 90th-percentile
    example of the test images it searched (``hard_example_pool``; SPEC d.3 asks for all of them),
    and budgets that search different pools find different examples."""
    examples = defaultdict(dict)  # split -> pool -> test image index
    for results in shown:
        if "test_index" in results.reconstructions:
            pool = results.config.hard_example_pool
            examples[results.config.split][pool] = int(results.reconstructions["test_index"])
    differing = [
        f"{splits.describe(split)}: "
        + ", ".join(
            f"test image {index:,} among {'all test images' if pool is None else f'{pool:,} random ones'}"
            for pool, index in sorted(by_pool.items(), key=lambda item: item[0] or 0)
        )
        for split, by_pool in examples.items()
        if len(set(by_pool.values())) > 1
    ]
    if not differing:
        return ""
    return (
        ". The hard example above a panel is the 90th-percentile one of the test images its run "
        "searched, so panels of different budgets show different ones: " + "; ".join(differing)
    )


def sources(runs: dict) -> str:
    """The profiles whose stored runs a figure shows, most-trained first, for its footer."""
    found = {r.profile or "?" for r in runs.values() if r is not None}
    order = {name: i for i, name in enumerate(run_keys.EVIDENCE_ORDER)}
    return "+".join(sorted(found, key=lambda name: order.get(name, len(order)))) or "none"


def trained_on(runs: dict) -> str:
    """The device(s) the stored runs were trained on, for the figure's provenance footer."""
    devices = sorted({r.provenance.get("device", "?") for r in runs.values() if r is not None})
    return ",".join(devices) or "none"


def epochs_seen(runs: dict) -> list[dict]:
    """One row per stored run: its training-set size N and how many passes over it its budget and the
    paper's are, epochs = iterations x batch size / N.  At a fixed number of iterations a smaller
    training set is seen more often, which is what a comparison across sizes (Figure 4) must be read
    against: the paper's 257k iterations are hundreds of epochs of every size, a reduced budget is not."""
    return [
        {
            "configuration": run_keys.label(key),
            "N_train": run_keys.training_size(results.config),
            "shown at": run_keys.budget(results),
            "epochs": run_keys.epochs(results.config),
            "epochs at the paper's budget": PAPER_EXAMPLES_SEEN / run_keys.training_size(results.config),
        }
        for key, results in runs.items()
        if results is not None
    ]


def lowest_test_points(runs: dict) -> list[dict]:
    """Per stored run and beta, where its test distortion on the learning curve bottomed out (mean over
    seeds, on the fixed curve subset): the iteration and the epoch, iterations x batch size / N_train,
    and how far it rose by the last evaluation, with that evaluation's iteration
    (:func:`rdvae.summary.rise_since_lowest`).  A minimum early in training and a large rise say that
    size overfits well within the budget; a minimum at the last evaluation says it was still improving."""
    out = []
    for key, results in runs.items():
        if results is None:
            continue
        n, batch = run_keys.training_size(results.config), results.config.batch_size
        for row in summary.rise_since_lowest(results.curves):
            out.append(
                {
                    "configuration": run_keys.label(key),
                    "N_train": n,
                    "beta": row["beta"],
                    "lowest test D": row["lowest"],
                    "at iteration": row["lowest at"],
                    "at epoch": row["lowest at"] * batch / n,
                    "last test D": row["last"],
                    "last at iteration": row["last at"],
                    "rise since": row["rise"],
                }
            )
    return out


def _panel(runs: dict, key: tuple, profile: str) -> Panel:
    """Train and test curves of one run, or a note with the command that produces it."""
    title = run_keys.label(key)
    results = runs.get(key)
    if results is None:
        command = (
            run_keys.command(profile, key).replace(" --split", "\n--split").replace(" --store", "\n--store")
        )
        return Panel(title, [], note=f"not run at profile {profile}:\n{command}")
    curves = [Curve(results, p, p, {"train": TRAIN, "test": TEST}[p]) for p in ("train", "test")]
    return Panel(f"{title}\n{run_keys.budget(results)}", curves, strip=results)


def fig3(runs: dict, profile: str):
    """Train and test RD curves: rows CV(82k/82k) and CV(16k/147k), columns 1- and 3-layer MLP."""
    keys = [(s, a) for s in ("default", "cv-0.1") for a in ("mlp1", "mlp3")]
    return rd_figure([_panel(runs, k, profile) for k in keys], n_cols=2)


FIG4_PANELS: dict[tuple[str, str], tuple[run_keys.RunKey, ...]] = {
    (family, arch): tuple((split, arch) for split in sizes)
    for family, sizes in (
        ("CV", ("cv-0.35", "cv-0.2", "cv-0.1", "cv-0.05")),
        ("CD", ("cd-0.7", "cd-0.4", "cd-0.2", "cd-0.1")),
    )
    for arch in ("mlp1", "mlp3")
}  # Figure 4's panels, (split family, depth) -> its four training-set sizes, largest first


def at_one_budget(runs: dict, keys) -> tuple[dict, dict]:
    """The runs of ``keys`` as a panel comparing them shows them: all at the most-trained tier that
    holds every stored one (:meth:`rdvae.runs.Evidence.common_tier`), so the curves differ by
    configuration and not by training; and the most-trained runs of the keys stored beyond that.
    Where no tier holds them all (or ``runs`` is a plain mapping), each is its most-trained run."""
    tier = runs.common_tier(keys) if isinstance(runs, run_keys.Evidence) else None
    if tier is None:
        return {key: runs.get(key) for key in keys}, {}
    shown = {key: runs.at(tier).get(key) for key in keys}
    more = {key: runs[key] for key in keys if runs.get(key) is not None and runs[key] is not shown[key]}
    return shown, more


def fig4_runs(runs: dict) -> tuple[dict, dict]:
    """Figure 4's runs as its panels show them (each panel at one budget, :func:`at_one_budget`), and
    the runs stored more trained than their panel shows; the chapter's caption and tables use these."""
    shown, more = {}, {}
    for keys in FIG4_PANELS.values():
        panel, above = at_one_budget(runs, keys)
        shown.update(panel)
        more.update(above)
    return shown, more


def fig4(runs: dict, profile: str):
    """Test RD curves for CV (top) and CD (bottom) splits at four training-set sizes, per depth; each
    panel's sizes at one budget (:func:`at_one_budget`)."""
    panels = []
    for (family, arch), keys in FIG4_PANELS.items():
        shown, more_trained = at_one_budget(runs, keys)
        curves, missing = [], []
        for key, colour in zip(keys, ("C0", "C1", "C2", "C3"), strict=True):
            results = shown[key]
            if results is None:
                missing.append(key[0])
            else:
                # the images trained on, as the epochs table says
                n = run_keys.training_size(results.config)
                curves.append(Curve(results, "test", f"N_train = {n:,} ({run_keys.budget(results)})", colour))
        note = f"not run at profile {profile}: {', '.join(missing)}" if missing and not curves else ""
        title = f"{family} splits, {arch.upper()}, test"
        if more_trained:
            title += f"\nall sizes at one budget; {len(more_trained)} also stored more trained (caption)"
        panels.append(Panel(title, curves, note=note))
    return rd_figure(panels, n_cols=2)


def fig5(runs: dict, profile: str):
    """RD curves (train and test) for CV(82k/82k), CV(16k/147k) and Checkerboard, per depth."""
    keys = [(s, a) for a in ("mlp1", "mlp3") for s in ("default", "cv-0.1", "checkerboard")]
    return rd_figure([_panel(runs, k, profile) for k in keys], n_cols=3)


def fig6(runs: dict, profile: str):
    """RD curves on CV(16k/147k): MLP against CNN, 1 and 3 layers."""
    keys = [("cv-0.1", a) for a in ("mlp1", "mlp3", "cnn1", "cnn3")]
    return rd_figure([_panel(runs, k, profile) for k in keys], n_cols=2)


def objective_figure(runs: dict, profile: str):
    """Appendix A-8: train and test RD curves of the 3-layer MLP on CV(16k/147k) trained on the
    beta-VAE objective and with the MI or the marginal-KL part of the rate removed (SPEC d.5)."""
    return rd_figure([_panel(runs, key, profile) for key in run_keys.OBJECTIVE_KEYS.values()], n_cols=3)


def fig7(runs: dict, datasets: list[str], profile: str):
    """Train and test RD curves of 1- and 3-layer MLPs on each available dataset (split cv-0.1)."""
    keys = [("cv-0.1", arch, f"dataset={d}") for d in datasets for arch in ("mlp1", "mlp3")]
    return rd_figure([_panel(runs, k, profile) for k in keys], n_cols=2)


def fig8(runs: dict):
    """I(x;z) and KL(q(z)||p(z)) against beta on the CV(16k/147k) training set, both depths."""
    entries = [
        (f"{arch.upper()} ({run_keys.budget(runs[('cv-0.1', arch)])})", runs[("cv-0.1", arch)])
        for arch in ("mlp1", "mlp3")
        if runs.get(("cv-0.1", arch))
    ]
    return information_figure(entries) if entries else None


def early_stopping_figure(runs: dict):
    """Appendix: test RD curves of the 1-layer MLP on CV(16k/147k) with and without early stopping,
    at the budget both share (:func:`at_one_budget`)."""
    arms = {
        ("cv-0.1", "mlp1"): ("trained to the end", "C3"),
        ("cv-0.1", "mlp1", "early-stopping"): ("early stopping", "C2"),
    }
    shown, more_trained = at_one_budget(runs, list(arms))
    curves = [
        Curve(results, "test", f"{arms[key][0]} ({run_keys.budget(results)})", arms[key][1])
        for key, results in shown.items()
        if results is not None
    ]
    title = "MLP1 CV(16k/147k), test" + (
        "\nboth at one budget; also stored more trained: "
        + ", ".join(f"{arms[key][0]} at {run_keys.budget(r)}" for key, r in more_trained.items())
        if more_trained
        else ""
    )
    return rd_figure([Panel(title, curves, note="" if curves else "not run")], n_cols=1)
