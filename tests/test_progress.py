"""rdvae progress: a checkpoint in the cache is reported with its iteration and its last learning-curve
point, the same numbers the trainer recorded; an unreadable one is named with the fix."""

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
    trainer.save_checkpoint()
    (run,) = progress.in_progress()
    assert run["run_id"] == CONFIG.run_id
    assert (run["iteration"], run["iterations"], run["evaluated_at"]) == (20, 40, 20)
    assert (run["hours"], run["hours_left"]) == (2.0, 2.0)  # half done: as long again at that speed
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
    assert f"{CONFIG.run_id}: 20/40 iterations (50%), 2.0 h trained, ~2.0 h left" in capsys.readouterr().out


def test_an_unreadable_checkpoint_is_named_with_the_fix(cache, capsys):
    folder = paths.checkpoint_dir()
    folder.mkdir(parents=True)
    (folder / "mlp1-cv-0.1-000000000000.pt").write_bytes(b"not a checkpoint")
    assert main(["progress"]) == 1
    out = capsys.readouterr().out
    assert "mlp1-cv-0.1-000000000000: unreadable" in out and "delete" in out
