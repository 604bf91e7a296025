"""Figure captions: what they say about the runs a figure shows."""

import numpy as np
import pytest

from rdvae import figures
from rdvae import runs as run_keys
from rdvae.config import RunConfig
from rdvae.store import RunResults


def _run(arch, pool, test_index, profile):
    config = RunConfig(
        split="cv-0.1", arch=arch, betas=(0.1, 1.0), seeds=(0,), iterations=10, hard_example_pool=pool
    )
    recon = {"test_index": np.array(test_index)}
    return RunResults(config, [], [], recon, {"device": "cpu"}, profile=profile)


def test_the_caption_explains_hard_examples_that_differ_between_budgets():
    mixed = {
        ("cv-0.1", "mlp1"): _run("mlp1", None, 4321, "long"),
        ("cv-0.1", "cnn1"): _run("cnn1", 1500, 99, "cpu"),
        ("cv-0.1", "cnn3"): None,
    }
    text = figures.caption(mixed, "cpu")
    assert "2 of 3 runs present" in text
    assert "panels of different budgets show different ones" in text
    assert (
        "test image 99 among 1,500 random ones" in text and "test image 4,321 among all test images" in text
    )

    same = {key: _run(key[1], 1500, 99, "cpu") for key in (("cv-0.1", "mlp1"), ("cv-0.1", "cnn1"))}
    assert "hard example" not in figures.caption(same, "cpu")


def test_the_caption_names_the_runs_still_falling_when_training_stopped():
    def with_curve(arch, fall):
        results = _run(arch, None, 0, "long")
        results.curves = [
            {"iteration": i, "beta": b, "seed": 0, "partition": "test", "rate": 1.0, "distortion": d}
            for b in results.config.betas
            for i, d in ((8, 100.0), (10, 100.0 - fall))
        ]
        return results

    runs = {("cv-0.1", "mlp1"): with_curve("mlp1", 3.0), ("cv-0.1", "mlp3"): with_curve("mlp3", 0.5)}
    text = figures.caption(runs, "cpu")
    assert text.count("still falling") == 1 and text.endswith(run_keys.label(("cv-0.1", "mlp1")))
    runs[("cv-0.1", "mlp1")] = with_curve("mlp1", -3.0)  # rising: overfitting, not under-training
    assert "still falling" not in figures.caption(runs, "cpu")


def test_epochs_seen_counts_passes_over_the_training_set_at_each_budget():
    run = _run("mlp1", None, 0, "cpu")  # CV(16k/147k): 16,384 training images (SPEC b), 10 iterations
    tiny = RunConfig(
        split="cv-0.1", arch="mlp3", betas=(1.0,), seeds=(0,), iterations=20, batch_size=32, train_limit=1024
    )
    smoke = RunResults(tiny, [], [], {}, {"device": "cpu"}, profile="smoke")
    runs = {("cv-0.1", "mlp1"): run, ("cv-0.1", "mlp3"): smoke, ("cv-0.05", "mlp1"): None}
    rows = figures.epochs_seen(runs)
    assert [r["N_train"] for r in rows] == [16_384, 1024]  # the missing run has no row
    assert rows[0]["epochs"] == 10 * 128 / 16_384
    assert round(rows[0]["epochs at the paper's budget"]) == 2008  # SPEC c: "~2,007 epochs of the 16k set"
    assert rows[1]["epochs"] == 20 * 32 / 1024
    assert rows[1]["shown at"].startswith("smoke: 20 it")


def test_training_size_is_what_the_trainer_draws_from():
    import torch

    from rdvae.train import TrainingData

    tetrominoes = {"train_limit": 900}  # renders 900 images, not 16k
    for extra in (tetrominoes, {**tetrominoes, "early_stopping": True}, {"dataset": "digits"},
                  {"dataset": "digits", "early_stopping": True}):  # fmt: skip
        config = RunConfig(split="cv-0.1", arch="mlp1", betas=(1.0,), seeds=(0,), iterations=1, **extra)
        n_loaded = len(TrainingData.load(config, torch.device("cpu")).train_idx)
        assert run_keys.training_size(config) == n_loaded


def test_figure4_legend_names_the_images_each_curve_trained_on():
    import matplotlib

    matplotlib.use("Agg")
    tiny = RunConfig(
        split="cv-0.1", arch="mlp1", betas=(1.0,), seeds=(0,), iterations=20, batch_size=32, train_limit=1024
    )
    rows = [{"beta": 1.0, "seed": 0, "partition": p, "distortion": 80.0, "rate": 10.0, "status": "ok"}
            for p in ("train", "test")]  # fmt: skip
    smoke = RunResults(tiny, rows, [], {}, {"device": "cpu"}, profile="smoke")
    fig = figures.fig4({("cv-0.1", "mlp1"): smoke}, "smoke")
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    # cut to train_limit, as the trainer does, not CV(16k)'s 16,384
    assert legend == ["N_train = 1,024 (smoke: 20 it × 1 seed, cpu)"]


def _run_at(split, iterations):
    rows = [{"beta": 1.0, "seed": 0, "partition": p, "distortion": 80.0, "rate": 10.0, "status": "ok"}
            for p in ("train", "test")]  # fmt: skip
    config = RunConfig(split=split, arch="mlp3", betas=(1.0,), seeds=(0,), iterations=iterations)
    return RunResults(config, rows, [], {}, {"device": "cpu"}, profile="long")


def test_a_figure4_panel_shows_its_sizes_at_the_budget_they_share():
    """CD(57k/57k) stored at 50k and 100k iterations, CD(33k/33k) at 50k only, CD(8k/8k) missing: the
    MLP-3 CD panel shows 57k and 33k both at 50k, the most-trained budget holding both, and names the
    100k run.  Adding CD(16k/16k) at 20k only leaves no budget holding all: each size its best."""
    import matplotlib

    matplotlib.use("Agg")
    from rdvae.runs import Evidence

    long50, long100 = _run_at("cd-0.7", 50_000), _run_at("cd-0.7", 100_000)
    stored = {
        ("cd-0.7", "mlp3"): {("long", 100_000): long100, ("long", 50_000): long50},
        ("cd-0.4", "mlp3"): {("long", 50_000): _run_at("cd-0.4", 50_000)},
        ("cd-0.1", "mlp3"): {},
    }
    evidence = Evidence("long", stored)
    assert evidence[("cd-0.7", "mlp3")] is long100  # alone, a configuration shows its most-trained run
    keys = [("cd-0.7", "mlp3"), ("cd-0.4", "mlp3"), ("cd-0.1", "mlp3")]
    assert evidence.common_tier(keys) == ("long", 50_000)
    shown, more = figures.at_one_budget(evidence, keys)
    assert shown == {keys[0]: long50, keys[1]: stored[keys[1]]["long", 50_000], keys[2]: None}
    assert more == {keys[0]: long100}

    stored[("cd-0.2", "mlp3")] = {("long", 20_000): _run_at("cd-0.2", 20_000)}
    evidence = Evidence("long", stored)
    assert evidence.common_tier([*keys, ("cd-0.2", "mlp3")]) is None  # no budget holds all: each its best
    shown, more = figures.at_one_budget(evidence, [*keys, ("cd-0.2", "mlp3")])
    assert shown[keys[0]] is long100 and more == {}

    del stored[("cd-0.2", "mlp3")]
    evidence = Evidence("long", stored)
    fig = figures.fig4(evidence, "long")
    cd_mlp3 = fig.axes[3]
    assert [t.get_text() for t in cd_mlp3.get_legend().get_texts()] == [
        "N_train = 57,416 (long: 50,000 it × 1 seed, cpu)",
        "N_train = 32,998 (long: 50,000 it × 1 seed, cpu)",
    ]  # SPEC b: the CD sizes of ratios 0.7 and 0.4
    assert "1 also stored more trained" in cd_mlp3.get_title()
    shown, more = figures.fig4_runs(evidence)
    text = figures.caption(shown, "long", more)
    assert text.endswith(f"{run_keys.label(keys[0])} at long: 100,000 it × 1 seed, cpu")
    assert "100,000" not in figures.caption(shown, "long")


def test_the_early_stopping_panel_compares_both_arms_at_one_budget():
    import matplotlib

    matplotlib.use("Agg")
    from rdvae.runs import Evidence

    ordinary, plain_key, stopped_key = (
        _run_at("cv-0.1", 100_000),
        ("cv-0.1", "mlp1"),
        ("cv-0.1", "mlp1", "early-stopping"),
    )
    half, stopped = _run_at("cv-0.1", 50_000), _run_at("cv-0.1", 50_000)
    evidence = Evidence(
        "long",
        {
            plain_key: {("long", 100_000): ordinary, ("long", 50_000): half},
            stopped_key: {("long", 50_000): stopped},
        },
    )
    ax = figures.early_stopping_figure(evidence).axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "trained to the end (long: 50,000 it × 1 seed, cpu)",
        "early stopping (long: 50,000 it × 1 seed, cpu)",
    ]
    assert ax.get_title().endswith(
        "also stored more trained: trained to the end at long: 100,000 it × 1 seed, cpu"
    )


def test_a_caption_names_a_batch_other_than_the_profiles():
    plain = _run("mlp3", None, 0, "cpu")
    assert run_keys.budget(plain) == "cpu: 10 it × 1 seed, cpu"
    wide = RunConfig(split="cv-0.1", arch="mlp3", betas=(1.0,), seeds=(0, 1), iterations=1500, batch_size=512)
    assert run_keys.budget(RunResults(wide, [], [], {}, {"device": "cpu"}, profile="cpu")) == (
        "cpu: 1,500 it at batch 512 × 2 seeds, cpu"
    )


def test_missing_runs_are_listed_with_their_command_and_how_to_train_them_by_seed(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("RDVAE_STORE", str(tmp_path))  # an empty store: every run is missing
    early = ("cv-0.1", "mlp1", "early-stopping")
    run_keys.get_runs("long", [("default", "mlp3"), early], train_missing=False)
    out = capsys.readouterr().out
    assert run_keys.command("long", ("default", "mlp3")) in out
    assert "add --seeds 0, then --seeds 1" in out
    run_keys.get_runs("long", [early], train_missing=False)
    out = capsys.readouterr().out
    # early-stopping members stop one by one, so those runs are split by seed too
    assert "--early-stopping" in out and "add --seeds 0, then --seeds 1" in out


def test_learning_curves_zoom_the_distortion_axis_on_training_after_its_first_tenth():
    from rdvae import plots

    curves = [
        {"iteration": i, "beta": b, "seed": s, "partition": p, "rate": 10.0, "distortion": d + s}
        for i, d in ((0, 2000.0), (500, 300.0), (1000, 100.0), (5000, 90.0), (10_000, 80.0))
        for b in (0.1, 1.0)
        for s in (0, 1)
        for p in ("train", "test")
    ]
    fig = plots.learning_curves(curves)
    low, high = fig.axes[1].get_ylim()
    assert 75 < low < 80.5 and 100.5 < high < 110  # 80.5 .. 100.5 in view; 300 and 2000 run off the top


def test_the_distortion_curves_along_training_are_drawn_at_halving_iterations():
    from rdvae import plots

    curves = [
        {"iteration": i, "beta": b, "seed": s, "partition": p, "rate": 10.0, "distortion": 100 - i / 1000 + b}
        for i in range(0, 100_001, 1000)
        for b in (0.01, 0.1, 1.0)
        for s in (0, 1)
        for p in ("train", "test")
    ]
    shown = plots.halving_iterations(curves)
    assert shown == [6000, 12_000, 25_000, 50_000, 100_000]  # nearest to 100k / 2^k, ascending
    assert plots.halving_iterations([r for r in curves if r["iteration"] <= 1000]) == [1000]
    fig = plots.distortion_over_training(curves, shown)
    for ax in fig.axes:
        lines = [line for line in ax.get_lines() if line.get_marker() == "o"]  # not the error-bar caps
        assert len(lines) == len(shown)
        assert list(lines[-1].get_xdata()) == [0.01, 0.1, 1.0]
        assert list(lines[-1].get_ydata()) == pytest.approx([0.01, 0.1, 1.0])  # 100 - 100 + beta
    assert [t.get_text() for t in fig.legends[0].get_texts()][-1] == "iteration 100,000"


def test_lowest_test_points_say_when_and_how_far_each_beta_overfit():
    """Two seeds on CV(16k/147k) (16,384 training images, batch 128): at beta 0.1 the mean test D is
    11, 8, 9, 8.5 at iterations 0, 256, 512, 768 (lowest 8 at 256 = epoch 2, then up 0.5); at beta 1 it
    falls to the end (lowest at the last point, no rise); the train curve, lower still, is ignored."""
    results = _run("mlp3", None, 0, "long")

    def points(beta, partition, by_iteration):
        return [{"iteration": it, "beta": beta, "seed": seed, "partition": partition, "distortion": d}
                for it, pair in by_iteration.items() for seed, d in enumerate(pair)]  # fmt: skip

    results.curves = [
        *points(0.1, "test", {0: (10, 12), 256: (7, 9), 512: (9, 9), 768: (8, 9)}),
        *points(1.0, "test", {0: (12, 12), 256: (11, 11), 512: (10, 10), 768: (9, 10)}),
        *points(0.1, "train", {it: (1, 1) for it in (0, 256, 512, 768)}),
    ]
    rows = figures.lowest_test_points({("cv-0.1", "mlp3"): results, ("cv-0.05", "mlp3"): None})
    keys = (
        "beta",
        "lowest test D",
        "at iteration",
        "at epoch",
        "last test D",
        "last at iteration",
        "rise since",
    )
    assert [tuple(r[k] for k in keys) for r in rows] == [
        (0.1, 8.0, 256, 2.0, 8.5, 768, 0.5),
        (1.0, 9.5, 768, 6.0, 9.5, 768, 0.0),
    ]
    assert {r["N_train"] for r in rows} == {16_384} and {r["configuration"] for r in rows} == {
        run_keys.label(("cv-0.1", "mlp3"))
    }
