"""rdvae progress: a checkpoint in the cache is reported with its iteration and its last learning-curve
point, the same numbers the trainer recorded; an unreadable one is named with the fix."""

from dataclasses import replace

import numpy as np
import pytest

from rdvae import paths, progress, train
from rdvae.cli import main
from rdvae.config import RunConfig

CONFIG = RunConfig(
    split="cv-0.1", arch="mlp1", betas=(0.3, 1.0), seeds=(0, 1), iterations=40, train_limit=256,
    batch_size=32, eval_every=10, curve_examples=64, eval_examples=64, iwae_samples=2, iwae_examples=8,
)  # fmt: skip


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RDVAE_CACHE", str(tmp_path))
    return tmp_path


def test_a_stopped_run_is_reported_with_its_last_curve_point(cache, capsys):
    assert main(["progress"]) == 0 and "no runs in progress" in capsys.readouterr().out
    trainer = train.Trainer(CONFIG)
    trainer.evaluate_curves()
    for _ in range(20):  # half of the 40 iterations, then a checkpoint, as a stopped run leaves it
        trainer.step()
        if trainer.iteration % CONFIG.eval_every == 0:
            trainer.evaluate_curves()
    trainer.elapsed = 7200.0  # as if those 20 iterations had taken two hours
    trainer.paused = 900.0  # and the process had been stopped a quarter of an hour besides
    trainer.save_checkpoint()
    (run,) = progress.in_progress()
    assert run["run_id"] == CONFIG.run_id
    assert (run["iteration"], run["iterations"], run["evaluated_at"]) == (20, 40, 20)
    assert (run["hours"], run["hours_left"]) == (2.0, 2.0)  # half done: as long again at that speed
    assert run["speed_since"] == "whole run"  # one process, from the start
    assert run["u_shape"] is None  # two betas: too few to test a U-shape
    assert [row["beta"] for row in run["by_beta"]] == [0.3, 1.0]
    for row in run["by_beta"]:
        assert row["seeds"] == 2
        for partition in ("train", "test"):
            recorded = [
                r["distortion"]
                for r in trainer.curves
                if r["iteration"] == 20 and r["beta"] == row["beta"] and r["partition"] == partition
            ]
            assert len(recorded) == 2 and row[partition] == pytest.approx(np.mean(recorded), rel=1e-12)
    assert main(["progress"]) == 0
    assert (
        f"{CONFIG.run_id}: 20/40 iterations (50%), 2.0 h trained (and 15 min stopped), ~2.0 h left at "
        "0.00278 it/s (whole run)" in capsys.readouterr().out
    )


def test_the_time_left_is_forecast_from_the_last_process_speed(cache):
    """A run that spans sessions: the first 10 iterations took 6,200 s on a loaded machine, the 10
    since it resumed took 1,000 s; the 20 left take 2,000 s at the resumed speed (the whole run's
    average would say 7,200 s)."""
    trainer = train.Trainer(CONFIG)
    for _ in range(20):
        trainer.step()
    trainer.elapsed, trainer.resumed_at = 7200.0, (10, 6200.0)
    trainer.save_checkpoint()
    (run,) = progress.in_progress()
    assert (run["speed"], run["speed_since"]) == (pytest.approx(0.01), "last process")
    assert run["hours_left"] == pytest.approx(2000 / 3600)
    resumed = train.Trainer(CONFIG)
    assert resumed.load_checkpoint()
    resumed.train(progress=False)  # the process that resumes records where it started
    assert resumed.resumed_at[0] == 20


def test_the_lowest_test_point_says_when_overfitting_began():
    def rows(beta, partition, by_iteration):
        return [{"iteration": it, "beta": beta, "seed": seed, "partition": partition, "distortion": d}
                for it, pair in by_iteration.items() for seed, d in enumerate(pair)]  # fmt: skip

    curves = [
        *rows(0.1, "test", {0: (10, 12), 10: (8, 8), 20: (9, 9), 30: (8, 8)}),  # mean 11, 8, 9, 8
        *rows(1.0, "test", {0: (12, 12), 10: (11, 11), 20: (10, 10), 30: (9.5, 9.5)}),  # still falling
        *rows(0.1, "train", {it: (5, 5) for it in (0, 10, 20, 30)}),
        *rows(1.0, "train", {it: (7, 7) for it in (0, 10, 20, 30)}),
    ]
    last, by_beta = progress.last_curve_point(curves)
    assert last == 30
    assert [(r["beta"], r["test"], r["lowest_test"], r["lowest_at"]) for r in by_beta] == [
        (0.1, 8.0, 8.0, 10),  # the tie at 30 keeps the earliest
        (1.0, 9.5, 9.5, 30),
    ]
    run = {
        "run_id": "r", "iteration": 30, "iterations": 60, "hours": 1.0, "hours_left": 1.0, "speed": 0.01,
        "speed_since": "last process", "evaluated_at": last, "by_beta": by_beta,
    }  # fmt: skip
    assert "lowest test     8.00 at 10" in progress.describe([run])[1]
    run["u_shape"] = (True, {"beta at min": 0.1, "rise to smallest beta": 1.5, "tol": 1.0})
    assert progress.describe([run])[-1] == (
        "  test D is U-shaped in beta (the ledger's test): minimum at beta 0.1, test D at the smallest "
        "beta 1.50 nats above it, tol 1.00"
    )


def test_an_unreadable_checkpoint_is_named_with_the_fix(cache, capsys):
    folder = paths.checkpoint_dir()
    folder.mkdir(parents=True)
    (folder / "mlp1-cv-0.1-000000000000.pt").write_bytes(b"not a checkpoint")
    assert main(["progress"]) == 1
    out = capsys.readouterr().out
    assert "mlp1-cv-0.1-000000000000: unreadable" in out and "delete" in out


def test_the_last_test_point_is_tested_for_the_u_shape(cache):
    """A checkpoint whose last test point is 10 / 8 / 9.5 nats at beta 0.01 / 0.1 / 1 (seeds 0.1 apart):
    minimum at 0.1, the smallest beta 2 nats above it, beyond the 1-nat tolerance."""
    import torch

    config = replace(CONFIG, betas=(0.01, 0.1, 1.0))
    last = {0.01: 10.0, 0.1: 8.0, 1.0: 9.5}
    curves = [
        {"iteration": 30, "beta": beta, "seed": seed, "partition": partition,
         "distortion": d + 0.1 * seed - (5.0 if partition == "train" else 0.0)}
        for beta, d in last.items() for seed in (0, 1) for partition in ("train", "test")
    ]  # fmt: skip
    folder = paths.checkpoint_dir()
    folder.mkdir(parents=True)
    state = {"config": config.to_json(), "iteration": 30, "elapsed": 60.0, "curves": curves}
    torch.save(state, folder / f"{config.run_id}.pt")
    (run,) = progress.in_progress()
    holds, numbers = run["u_shape"]
    assert holds and numbers == {"beta at min": 0.1, "rise to smallest beta": 2.0, "tol": 1.0}


@pytest.mark.parametrize(
    ("profile", "split", "arch", "options"),
    [
        ("long", "cv-0.1", "mlp3", {"iterations": 100_000, "seeds": (1,)}),
        ("cpu", "default", "mlp1", {}),
        ("cpu", "cv-0.1", "mlp1", {"early_stopping": True, "betas": (0.01, 0.3, 1e-5)}),
        ("cpu", "cv-0.1", "mlp3", {"objective": "mi-removed"}),
        ("cpu", "cv-0.1", "mlp3", {"objective": "beta-vae", "iterations": 777}),
        ("smoke", "cv-0.1", "mlp3", {"dataset": "digits", "seeds": (0, 2)}),
        ("paper", "checkerboard", "cnn3", {"betas": (0.123456789, 3.0)}),
    ],
)
def test_the_resume_command_asks_for_the_same_run(profile, split, arch, options):
    """The printed command, parsed by ``rdvae train``'s own parser, gives the checkpoint's config
    (hence its run id), device, store and --keep-state."""
    import shlex

    from rdvae.cli import parser, train_config
    from rdvae.profiles import PROFILES

    config = PROFILES[profile].training.config(split, arch, **options)
    launch = {"device": "cuda", "store": "/somewhere/results/long", "keep_state": True}
    command = progress.resume_command(config, launch)
    words = shlex.split(command)
    assert words[:2] == ["rdvae", "train"]
    args = parser().parse_args(words[1:])
    assert train_config(args) == config
    assert (args.device, args.store, args.keep_state) == ("cuda", "/somewhere/results/long", True)
    assert "--iterations" not in command or "iterations" in options  # the profile's budget is not repeated
    cpu = progress.resume_command(config, {"device": "cpu", "store": "/s", "keep_state": False})
    assert "--device" not in cpu and "--keep-state" not in cpu


def test_a_checkpoint_written_from_python_resumes_into_the_default_store():
    """A :class:`Trainer` driven from Python (a notebook) records no store folder; its resume command
    names none, so ``rdvae train`` stores the finished run in the default store."""
    from rdvae.profiles import PROFILES

    config = PROFILES["smoke"].training.config("cv-0.1", "mlp1", seeds=(3,))
    command = progress.resume_command(config, {"device": "cpu", "store": None, "keep_state": False})
    assert command == "rdvae train --profile smoke --arch mlp1 --split cv-0.1 --seeds 3"


def test_a_config_no_profile_gives_has_no_resume_command():
    assert progress.resume_command(CONFIG, {"device": "cpu", "store": "/s", "keep_state": False}) is None


def test_a_stopped_training_records_how_to_resume_it(cache, tmp_path, monkeypatch, capsys):
    """``rdvae train`` stopped mid-run: ``rdvae progress`` prints the command that finishes it in the
    same store, keeping its state as asked."""
    from rdvae.profiles import PROFILES

    def stop_at_once(self, *args, **kwargs):
        self.save_checkpoint()
        raise train.Interrupted("stopped")

    monkeypatch.setattr(train.Trainer, "train", stop_at_once)
    monkeypatch.chdir(tmp_path)
    config = PROFILES["smoke"].training.config("cv-0.1", "mlp1", seeds=(3,))
    with pytest.raises(train.Interrupted):
        train.run(config, store_path="kept-runs", keep_state=True, progress=False)
    (run,) = progress.in_progress()
    expected = (
        "rdvae train --profile smoke --arch mlp1 --split cv-0.1 --seeds 3 --keep-state --store kept-runs"
    )
    assert run["resume"] == expected
    assert main(["progress"]) == 0
    out = capsys.readouterr().out
    assert "no learning-curve point yet" in out  # stopped before its first evaluation
    assert f"  resume: {expected}" in out
