"""The trainer: members in a stack equal members alone, resume equals an uninterrupted run, a
diverging member leaves the others untouched, and the store refuses what it cannot trust."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from rdvae import store, train
from rdvae.config import RunConfig
from rdvae.device import cpu_model
from rdvae.evaluate import evaluate_partition, evaluate_run
from rdvae.models import _member_slices

SMALL = dict(
    split="cv-0.1", arch="mlp1", iterations=30, train_limit=512, eval_every=10, curve_examples=64,
    eval_examples=256, iwae_samples=4, iwae_examples=32, mi_batch=64, hard_example_pool=64,
)  # fmt: skip


def _curve(trainer, beta, seed):
    return np.array(
        [(r["rate"], r["distortion"]) for r in trainer.curves if r["beta"] == beta and r["seed"] == seed]
    )


@pytest.fixture(scope="module")
def stacked():
    trainer = train.Trainer(RunConfig(betas=(0.3, 1.0), seeds=(0, 1), **SMALL), stack_size=4)
    trainer.train(progress=False)
    return trainer


def test_a_member_in_a_stack_matches_the_member_trained_alone(stacked):
    alone = train.Trainer(RunConfig(betas=(1.0,), seeds=(1,), **SMALL))
    alone.train(progress=False)
    ours, theirs = _curve(stacked, 1.0, 1), _curve(alone, 1.0, 1)
    assert ours.shape == theirs.shape == (2 * 4, 2)  # 4 evaluations x 2 partitions
    np.testing.assert_allclose(ours, theirs, rtol=1e-4)
    assert not np.allclose(_curve(stacked, 0.3, 1), theirs, rtol=1e-2)  # a different member differs


def test_stack_layout_does_not_change_the_numbers(stacked):
    looped = train.Trainer(stacked.config, stack_size=1)
    looped.train(progress=False)
    assert len(looped.groups) == 4
    for beta, seed in stacked.config.members:
        np.testing.assert_allclose(_curve(looped, beta, seed), _curve(stacked, beta, seed), rtol=1e-4)
    # the final evaluation's metrics, I and the marginal KL among them, do not depend on the layout
    idx = stacked.data.train_idx[:256]
    ours, theirs = (evaluate_partition(t, idx, len(t.data.train_idx)) for t in (stacked, looped))
    for name in ("rate", "distortion", "mi", "marginal_kl"):
        np.testing.assert_allclose(
            [m[name] for m in ours.values()], [m[name] for m in theirs.values()], rtol=1e-4, err_msg=name
        )


def test_training_reduces_the_objective(stacked):
    first = {
        (r["beta"], r["seed"]): r for r in stacked.curves if r["iteration"] == 0 and r["partition"] == "train"
    }
    last = {
        (r["beta"], r["seed"]): r
        for r in stacked.curves
        if r["iteration"] == 30 and r["partition"] == "train"
    }
    for key, r in last.items():
        beta = key[0]
        assert r["distortion"] + beta * r["rate"] < first[key]["distortion"] + beta * first[key]["rate"] - 50


@pytest.mark.parametrize("objective", ["mi-removed", "marginal-kl-removed"])
def test_an_objective_variant_trains_on_its_part_of_the_rate(objective):
    """Appendix A-8: the loss is D + beta times one estimated part of the rate; members stay independent."""
    from rdvae.estimators import bernoulli_nll, mi_and_marginal_kl, reparameterise

    config = RunConfig(betas=(0.3, 3.0), seeds=(0,), objective=objective, **{**SMALL, "batch_size": 64})
    trainer = train.Trainer(config, stack_size=2)
    model, x = trainer.models[0], trainer.data.train[:64].expand(2, 64, *trainer.data.train.shape[1:])
    noise = torch.randn(2, 64, 10, generator=torch.Generator().manual_seed(0))
    loss, _, _ = train.member_losses(model, x, noise, trainer.betas, objective, n_data=512)
    for m, beta in enumerate(config.betas):  # each member by hand, from the estimator on its own batch
        mu, logvar = (t[m] for t in model.encode(x))
        z = reparameterise(mu, logvar, noise[m])
        distortion = bernoulli_nll(x[m].flatten(1), model.decode(z[None].expand(2, -1, -1))[m]).mean()
        mi, marginal_kl = mi_and_marginal_kl(z, mu, logvar, n_data=512)
        part = marginal_kl if objective == "mi-removed" else mi
        torch.testing.assert_close(loss[m], distortion + beta * part, rtol=1e-5, atol=1e-4)
    trainer.train(progress=False)
    alone = train.Trainer(replace(config, betas=(3.0,)), stack_size=1)
    alone.train(progress=False)
    np.testing.assert_allclose(_curve(trainer, 3.0, 0), _curve(alone, 3.0, 0), rtol=1e-4)


def test_objective_variants_keep_earlier_run_ids_and_refuse_early_stopping():
    plain = RunConfig(betas=(1.0,), seeds=(0,), **SMALL)
    assert "objective" not in plain.to_json()  # so ids of runs stored before the field existed hold
    variant = RunConfig(betas=(1.0,), seeds=(0,), objective="mi-removed", **SMALL)
    assert variant.run_id.startswith("mlp1-cv-0.1-mi-removed-") and variant.run_id != plain.run_id
    assert RunConfig.from_json(variant.to_json()) == variant
    with pytest.raises(ValueError, match="early stopping"):
        RunConfig(betas=(1.0,), seeds=(0,), objective="mi-removed", early_stopping=True, **SMALL)
    with pytest.raises(ValueError, match="unknown objective 'mi'.*marginal-kl-removed"):
        RunConfig(betas=(1.0,), seeds=(0,), objective="mi", **SMALL)


def test_stored_runs_keep_their_ids():
    """Every committed run folder is named by the id its config hashes to under today's code."""
    folders = sorted(Path(__file__).resolve().parents[1].glob("results/*/*/config.json"))
    assert folders
    for path in folders:
        saved = json.loads(path.read_text())
        assert (
            RunConfig.from_json({k: v for k, v in saved.items() if k != "run_id"}).run_id == path.parent.name
        )


def test_a_diverging_member_is_recorded_and_the_others_are_untouched(stacked):
    trainer = train.Trainer(stacked.config, stack_size=4)
    trainer.evaluate_curves()
    while trainer.iteration < 15:
        trainer.step()
        if trainer.iteration % 10 == 0:
            trainer.evaluate_curves()
    with torch.no_grad():  # poison member 2 = (beta 0.3, seed 1)
        for layer in trainer.models[0].layers_in_order():
            for view in _member_slices(layer, 2):
                view.fill_(float("nan"))
    trainer.train(progress=False)
    assert trainer.diverged_at == [None, None, 20, None]
    for beta, seed in [(0.3, 0), (1.0, 0), (1.0, 1)]:
        np.testing.assert_allclose(_curve(trainer, beta, seed), _curve(stacked, beta, seed), rtol=1e-4)
    results = evaluate_run(trainer)
    rows = {(r["beta"], r["seed"], r["partition"]): r for r in results.members}
    bad = rows[(0.3, 1, "train")]
    assert bad["status"] == "diverged" and bad["diverged_at"] == 20
    assert bad["distortion"] == _curve(stacked, 0.3, 1)[2, 1]  # its last good evaluation (iteration 10)
    assert all(r["status"] == "ok" and np.isfinite(r["log_px"]) for k, r in rows.items() if k[:2] != (0.3, 1))


def test_a_near_degenerate_encoder_is_evaluated_not_flagged(stacked):
    """An encoder trained without the marginal KL (appendix A-8) reaches logvar < -88.7, where 1/sigma^2
    overflows float32; its final evaluation must still be finite, so it is not recorded as diverged."""
    trainer = train.Trainer(stacked.config, stack_size=4)
    trainer.train(progress=False)
    latent = trainer.models[0].to_latent
    d = latent.weight.shape[-1] // 2
    with torch.no_grad():  # member 0's logvar = -100 for every input
        latent.weight[0, :, d:] = 0
        latent.bias[0, :, d:] = -100.0
    mu, logvar = trainer.models[0].encode(trainer.data.train[:4].expand(4, 4, *trainer.data.train.shape[1:]))
    assert (logvar[0] == -100).all() and (logvar[1:] > -50).all()
    results = evaluate_run(trainer)
    assert all(r["status"] == "ok" for r in results.members)
    degenerate = [r for r in results.members if (r["beta"], r["seed"]) == trainer.members[0]]
    for row in degenerate:
        assert np.isfinite(
            [row[k] for k in ("rate", "distortion", "elbo", "log_px", "mi", "marginal_kl")]
        ).all()
        assert row["rate"] >= 0.5 * d * (100 - 1)  # KL = 1/2 sum (mu^2 + e^-100 + 100 - 1) per example
    assert np.isfinite(next(r for r in degenerate if r["partition"] == "test")["memorisation_weight"])


def test_early_stopping_keeps_each_members_best_validation_parameters():
    config = RunConfig(
        betas=(0.3, 1.0),
        seeds=(0,),
        early_stopping=True,
        patience=2,
        **{**SMALL, "iterations": 400, "batch_size": 32},
    )
    trainer = train.Trainer(config)
    assert len(trainer.data.validation_idx) == round(0.1 * 512)
    assert np.intersect1d(trainer.data.validation_idx, trainer.data.train_idx).size == 0
    assert len(trainer.data.train_idx) + len(trainer.data.validation_idx) == 512
    trainer.train(progress=False)
    for m, (beta, _) in enumerate(config.members):
        validation = [r for r in trainer.curves if r["partition"] == "validation" and r["beta"] == beta]
        losses = {r["iteration"]: r["distortion"] + beta * r["rate"] for r in validation}
        best = min(losses, key=losses.get)
        assert trainer.best_iteration[m] == best
        if trainer.stopped_early:
            assert trainer.iteration - best >= config.patience * config.eval_every
    # the restored parameters are the best ones: evaluating them again (every member, stopped or not)
    # gives the best validation loss
    trainer.stopped_at = [None] * len(config.members)
    trainer.evaluate_curves()
    for m, (beta, _) in enumerate(config.members):
        last = [r for r in trainer.curves if r["partition"] == "validation" and r["beta"] == beta][-1]
        assert last["distortion"] + beta * last["rate"] == pytest.approx(trainer.best_loss[m], rel=1e-5)


def test_run_stores_results_and_loads_them_without_training(tmp_path, monkeypatch):
    config = RunConfig(betas=(1.0,), seeds=(0,), **SMALL)
    results = train.run(config, store_path=tmp_path, progress=False)
    folder = tmp_path / config.run_id
    assert {p.name for p in folder.iterdir()} == {
        "config.json", "members.csv", "curves.csv", "reconstructions.npz", "provenance.json",
    }  # fmt: skip
    assert [(r["partition"], r["status"]) for r in results.members] == [("train", "ok"), ("test", "ok")]
    row = results.members[1]
    assert row["elbo"] == pytest.approx(-(row["rate"] + row["distortion"]))
    assert row["mi"] <= np.log(len(train.TrainingData.load(config, torch.device("cpu")).test_idx)) + 1e-9
    assert row["mi"] + row["marginal_kl"] == pytest.approx(row["rate"], rel=0.25)  # in expectation only
    assert results.reconstructions["reconstructions"].shape == (1, 3, 32, 32)
    assert results.reconstructions["optimal_reconstructions"].shape == (1, 3, 32, 32)
    weights = [row["memorisation_weight"], row["memorisation_weight_2"], row["memorisation_weight_3"]]
    assert (
        1 / 512 <= weights[0] <= 1 and weights == sorted(weights, reverse=True) and sum(weights) <= 1 + 1e-6
    )
    assert row["distance_to_input"] > 0 and row["bce_to_input"] > 0 and row["bce_to_optimal"] > 0
    assert row["mi_exact"] is None  # test rows: the exact information is a training-set quantity
    train_row = results.members[0]
    assert train_row["mi_exact"] <= np.log(512) + 1e-9
    # exact and minibatch estimates both decompose a Monte-Carlo rate: their sums agree in expectation
    assert train_row["mi_exact"] + train_row["marginal_kl_exact"] == pytest.approx(
        train_row["rate"], rel=0.25
    )
    assert train_row["memorisation_weight"] is None
    assert not train.Trainer(config).checkpoint_path().exists()  # removed once stored

    monkeypatch.setattr(train, "Trainer", None)  # a second run must not train
    again = train.run(config, store_path=tmp_path, progress=False)
    assert again.members == results.members


def test_a_run_being_trained_elsewhere_is_waited_for_then_loaded(tmp_path, monkeypatch, capsys):
    # Two chapters built in parallel may ask for one run.  The lock is an flock on an open file, so a
    # second opening of it conflicts even within one process: a thread stands in for the other process.
    import threading

    config = RunConfig(betas=(1.0,), seeds=(0,), **{**SMALL, "iterations": 10, "eval_every": 5})
    trained = []
    real_train = train.Trainer.train
    monkeypatch.setattr(
        train.Trainer, "train", lambda self, *a, **k: trained.append(1) or real_train(self, *a, **k)
    )
    waiter_result = []
    waiter = threading.Thread(target=lambda: waiter_result.append(train.run(config, store_path=tmp_path)))
    with train.exclusive_run(config.run_id):
        waiter.start()
        waiter.join(timeout=1.0)
        assert waiter.is_alive()  # blocked on the lock, not training
        assert "another process is training this run" in capsys.readouterr().out
        first = train.train_and_store(config, store_path=tmp_path, progress=False)
    waiter.join(timeout=60)
    assert not waiter.is_alive() and trained == [1]  # the waiter loaded the stored run
    assert waiter_result[0].members == first.members


def test_the_store_refuses_a_tampered_or_broken_run(tmp_path):
    config = RunConfig(betas=(1.0,), seeds=(0,), **SMALL)
    train.run(config, store_path=tmp_path, progress=False)
    folder = tmp_path / config.run_id
    raw = json.loads((folder / "config.json").read_text())
    raw["iterations"] = 31
    (folder / "config.json").write_text(json.dumps(raw))
    for read in (lambda: store.load(config, tmp_path), lambda: store.load_curves(folder)):
        with pytest.raises(store.StoreError, match="hashing to"):
            read()
    raw["iterations"] = 30
    (folder / "config.json").write_text(json.dumps(raw))
    assert store.load_curves(folder) == store.load(config, tmp_path).curves
    (folder / "members.csv").write_text("beta,seed\n1.0,zero\n")
    with pytest.raises(store.StoreError, match="members.csv"):
        store.load(config, tmp_path)
    assert store.load_curves(folder)  # reads the curves only
    (folder / "curves.csv").write_text("iteration,beta\n10,1.0\n")
    with pytest.raises(store.StoreError, match="curves.csv"):
        store.load_curves(folder)


def test_a_configuration_trained_one_seed_at_a_time_is_the_whole_run(tmp_path):
    # Stacks of one seed's betas: the shards' stacks are the whole run's, so the numbers are identical
    # (betas of no other test here, whose checkpoints of another stack layout would be refused)
    config = RunConfig(betas=(0.5, 2.0), seeds=(0, 1), **SMALL)
    whole = train.run(config, store_path=tmp_path / "whole", stack_size=2, progress=False)
    shards = store.seed_shards(config)
    assert [s.seeds for s in shards] == [(0,), (1,)] and {s.betas for s in shards} == {config.betas}
    train.run(shards[0], store_path=tmp_path / "shards", stack_size=2, progress=False)
    assert store.load(config, tmp_path / "shards") is None  # never shown with a seed missing
    train.run(shards[1], store_path=tmp_path / "shards", stack_size=2, progress=False)
    merged = store.load(config, tmp_path / "shards")
    assert merged.config == config
    assert merged.members == whole.members and merged.curves == whole.curves
    assert whole.reconstructions.keys() == merged.reconstructions.keys()
    for key, value in whole.reconstructions.items():
        np.testing.assert_array_equal(merged.reconstructions[key], value, err_msg=key)
    assert [s["run_id"] for s in merged.provenance["seed_shards"]] == [s.run_id for s in shards]
    assert merged.provenance["device"] == "cpu"

    # the shards' paused seconds add up; with a shard from before pauses were recorded, no sum is given
    parts = [store.load(shard, tmp_path / "shards") for shard in shards]
    paused = [
        replace(p, provenance={**p.provenance, "paused_seconds": t})
        for p, t in zip(parts, (3.0, 4.5), strict=True)
    ]
    assert store.merge_seed_shards(config, paused).provenance["paused_seconds"] == 7.5
    unrecorded = {k: v for k, v in parts[1].provenance.items() if k != "paused_seconds"}
    older = replace(parts[1], provenance=unrecorded)
    assert "paused_seconds" not in store.merge_seed_shards(config, [paused[0], older]).provenance

    # a shard whose hard example differs was made by other code: refused, naming the array
    folder = tmp_path / "shards" / shards[1].run_id
    with np.load(folder / "reconstructions.npz") as archive:
        arrays = {k: archive[k] for k in archive.files}
    np.savez_compressed(folder / "reconstructions.npz", **(arrays | {"test_index": arrays["test_index"] + 1}))
    with pytest.raises(store.StoreError, match="test_index"):
        store.load(config, tmp_path / "shards")


def test_a_configuration_begun_a_seed_at_a_time_is_finished_a_seed_at_a_time(tmp_path, capsys):
    """``rdvae train --seeds 0``, then ``rdvae train`` of both seeds: seed 0's stored shard is loaded,
    not trained again in a whole-configuration run, and seed 1's part-trained shard resumes from its
    checkpoint; the result is the whole configuration trained in one go."""
    config = RunConfig(betas=(0.5, 2.0), seeds=(0, 1), **SMALL)  # the betas and stacks of the test above
    first, second = store.seed_shards(config)
    train.run(first, store_path=tmp_path / "store", stack_size=2, progress=False)
    written = {f.name: f.stat().st_mtime_ns for f in (tmp_path / "store" / first.run_id).iterdir()}
    part = train.Trainer(second, stack_size=2)
    part.evaluate_curves()  # iteration 0's curve point, as Trainer.train takes it
    part.step()
    part.step()
    part.save_checkpoint()
    assert train.started_shards(config, tmp_path / "store") == {0: "stored", 1: "part-trained"}

    finished = train.run(config, store_path=tmp_path / "store", stack_size=2, progress=True)
    out = capsys.readouterr().out
    assert f"{config.run_id}: begun a seed at a time (seed 0 stored, seed 1 part-trained)" in out
    assert f"resuming {second.run_id} from iteration 2" in out
    assert {f.name for f in (tmp_path / "store").iterdir()} == {first.run_id, second.run_id}  # no whole run
    assert {f.name: f.stat().st_mtime_ns for f in (tmp_path / "store" / first.run_id).iterdir()} == written
    assert train.started_shards(config, tmp_path / "store") == {0: "stored", 1: "stored"}

    whole = train.run(config, store_path=tmp_path / "whole", stack_size=2, progress=False)
    assert finished.config == config
    assert finished.members == whole.members and finished.curves == whole.curves


def test_early_stopping_members_stop_one_by_one_so_a_configuration_can_be_sharded(tmp_path):
    # Each member stops on its own and nothing it does afterwards counts: at beta = 30 the rate collapses
    # and the validation loss stops improving early, at 0.5 it improves to the end of the run
    small = dict(early_stopping=True, patience=2, **{**SMALL, "iterations": 400, "batch_size": 32})
    config = RunConfig(betas=(0.5, 30.0), seeds=(0, 1), **small)
    whole = train.run(config, store_path=tmp_path / "whole", stack_size=1, progress=False)
    ends = {}
    for r in whole.curves:
        ends[r["beta"], r["seed"]] = r["iteration"]
    best = {(r["beta"], r["seed"]): r["best_iteration"] for r in whole.members}
    for seed in config.seeds:
        # the stopped member's curve ends patience evaluations after its best, while the run goes on
        assert ends[30.0, seed] - best[30.0, seed] == config.patience * config.eval_every
        assert ends[30.0, seed] < ends[0.5, seed] == config.iterations

    # the stopped member trained alone (a run that ends when it stops) gives the same numbers
    alone = train.run(RunConfig(betas=(30.0,), seeds=(0,), **small), store_path=tmp_path, progress=False)
    assert alone.members == [r for r in whole.members if (r["beta"], r["seed"]) == (30.0, 0)]
    assert alone.curves == [r for r in whole.curves if (r["beta"], r["seed"]) == (30.0, 0)]

    # and so do the seed shards, assembled
    for shard in store.seed_shards(config):
        train.run(shard, store_path=tmp_path / "shards", stack_size=1, progress=False)
    merged = store.load(config, tmp_path / "shards")
    assert merged.members == whole.members and merged.curves == whole.curves
    for key, value in whole.reconstructions.items():
        np.testing.assert_array_equal(merged.reconstructions[key], value, err_msg=key)


def test_a_checkpoint_of_the_earlier_early_stopping_rule_resumes_under_the_new_one(tmp_path):
    # The earlier rule trained (and recorded) every member until the last one stopped.  Its checkpoint
    # is the new rule's plus curve rows after a member's stop: loading it stops the member where the
    # new rule did and drops those rows; a member that improved after its patience ran out is refused
    config = RunConfig(
        betas=(0.5, 30.0), seeds=(0,), early_stopping=True, patience=2,
        **{**SMALL, "iterations": 300, "batch_size": 32},
    )  # fmt: skip
    trainer = train.Trainer(config, stack_size=1)
    trainer.train(progress=False)
    stopped = trainer.stopped_at[1]
    assert trainer.stopped_at[0] is None and stopped is not None and stopped < config.iterations
    new = trainer.state()
    later = [
        {**row, "iteration": it, "distortion": row["distortion"] + 1.0}  # worse than its best
        for it in range(stopped + config.eval_every, config.iterations + 1, config.eval_every)
        for row in new["curves"]
        if row["beta"] == 30.0 and row["iteration"] == stopped
    ]
    old = {key: value for key, value in new.items() if key != "stopped_at"}
    old["curves"] = sorted(new["curves"] + later, key=lambda r: r["iteration"])
    resumed = train.Trainer(config, stack_size=1)
    resumed._restore(old, tmp_path / "old.pt")
    assert resumed.stopped_at == trainer.stopped_at
    assert sorted(map(str, resumed.curves)) == sorted(map(str, new["curves"]))

    improved = [{**r, "distortion": -1e9} if r["partition"] == "validation" else r for r in later[-3:]]
    old["curves"] = sorted(new["curves"] + later[:-3] + improved, key=lambda r: r["iteration"])
    best_loss, best_iteration, best_state, stopped_early = new["best"]
    old["best"] = (best_loss, [best_iteration[0], config.iterations], best_state, stopped_early)
    with pytest.raises(ValueError, match=f"improved at iteration {config.iterations}, after its patience"):
        train.Trainer(config, stack_size=1)._restore(old, tmp_path / "old.pt")


@pytest.mark.parametrize("early", [False, True])
def test_partition_sizes_match_the_loaded_data(early):
    config = RunConfig(betas=(1.0,), seeds=(0,), early_stopping=early, **SMALL)
    data = train.TrainingData.load(config, torch.device("cpu"))
    assert config.partition_sizes() == {"train": len(data.train_idx), "test": len(data.test_idx)}


def test_config_validation_and_stable_ids():
    a = RunConfig(betas=(0.1, 1), seeds=(0,), **SMALL)
    assert a.run_id == RunConfig(betas=[0.1, 1.0], seeds=[0], **SMALL).run_id
    assert a.run_id == RunConfig.from_json(json.loads(json.dumps(a.to_json()))).run_id
    assert a.run_id != RunConfig(betas=(0.1, 1), seeds=(0,), **{**SMALL, "iterations": 31}).run_id
    for bad in ((0.0,), (-1.0,), (float("nan"),), (1.0, 1.0)):
        with pytest.raises(ValueError, match="beta"):
            RunConfig(betas=bad, seeds=(0,), **SMALL)
    with pytest.raises(ValueError, match="valid split names"):
        RunConfig(betas=(1.0,), seeds=(0,), **{**SMALL, "split": "cv-7"})


def test_same_except_agrees_with_replacing_the_named_fields():
    """same_except(a, b, *names) compares fields one by one; it must say what building ``a`` with
    ``b``'s ``names`` and comparing the configs says."""
    a = RunConfig(betas=(0.1, 1), seeds=(0, 1), **SMALL)
    others = [
        replace(a, iterations=60), replace(a, seeds=(0,)), replace(a, iterations=60, seeds=(2,)),
        replace(a, betas=(0.1, 1, 3)), replace(a, split="cd-0.1"), replace(a, objective="mi-removed"), a,
    ]  # fmt: skip
    for b in others:
        for names in ((), ("iterations",), ("seeds",), ("iterations", "seeds"), ("betas", "seeds")):
            assert a.same_except(b, *names) == (replace(a, **{n: getattr(b, n) for n in names}) == b)
    assert a.same_except(replace(a, iterations=60, seeds=(2,)), "iterations", "seeds")
    assert not a.same_except(replace(a, split="cd-0.1"), "iterations", "seeds")
    with pytest.raises(ValueError, match="iteration"):
        a.same_except(a, "iteration")


def test_a_checkpoint_loads_onto_the_cpu_whatever_device_wrote_it(tmp_path, monkeypatch):
    """Generator states must reach Generator.set_state as CPU ByteTensors.  Mapping a checkpoint onto
    the training device (as torch.load(map_location=device) does) breaks that for any other device;
    "meta" stands in for CUDA here, which this machine may lack."""
    monkeypatch.setenv("RDVAE_CACHE", str(tmp_path))
    trainer = train.Trainer(RunConfig(betas=(1.0,), seeds=(0,), **SMALL))
    trainer.step()
    path = trainer.save_checkpoint()
    state = train.load_state(path)
    saved = state["noise_generators"][0]
    assert saved.device.type == "cpu" and saved.dtype == torch.uint8
    torch.Generator().set_state(saved)
    with pytest.raises((TypeError, RuntimeError)):  # what a state mapped to another device does
        torch.Generator().set_state(saved.to("meta"))
    fresh = train.Trainer(RunConfig(betas=(1.0,), seeds=(0,), **SMALL))
    assert fresh.load_checkpoint() and fresh.iteration == 1


def test_minibatches_follow_each_members_own_epoch_permutations():
    """Drawing the next epoch one epoch ahead must not change the order: member m's minibatches are
    consecutive slices of randperm draws from its own (seed, 1) generator, one draw per epoch."""
    from rdvae.models import member_generator

    config = RunConfig(betas=(0.3, 1.0), seeds=(0, 5), **{**SMALL, "train_limit": 300})
    trainer = train.Trainer(config)
    batches = [trainer._next_batch().clone() for _ in range(7)]  # 2 full batches per epoch of 300
    for m, (_, seed) in enumerate(config.members):
        generator = member_generator(seed, 1)
        expected = []
        for _ in range(4):
            perm = torch.randperm(300, generator=generator)
            expected += [perm[:128], perm[128:256]]
        for got, want in zip(batches, expected, strict=False):
            assert torch.equal(got[m], want)


def test_tf32_means_nothing_on_a_cpu():
    trainer = train.Trainer(RunConfig(betas=(1.0,), seeds=(0,), **SMALL), tf32=True)
    assert trainer.tf32 is False and trainer.provenance()["tf32"] is False


# ---------------------------------------------------------------------------- kill and resume
ITERATIONS = 120
COMMAND = [
    sys.executable, "-m", "rdvae.cli", "train", "--profile", "smoke", "--arch", "mlp1", "--split", "cv-0.1",
    "--iterations", str(ITERATIONS),
]  # fmt: skip


def _launch(store_dir: Path, cache: Path, checkpoint_every: str = "0", *extra: str) -> subprocess.Popen:
    env = {**os.environ, "RDVAE_CACHE": str(cache), "PYTHONUNBUFFERED": "1"}
    command = [*COMMAND, "--checkpoint-every", checkpoint_every, "--store", str(store_dir), *extra]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_for_checkpoint(cache: Path, proc: subprocess.Popen, minimum: int = 40) -> None:
    deadline = time.time() + 120
    while time.time() < deadline:
        for path in (cache / "checkpoints").glob("*.pt"):
            try:
                if torch.load(path, weights_only=False)["iteration"] >= minimum:
                    return
            except Exception:  # noqa: BLE001 - being replaced right now; look again
                pass
        assert proc.poll() is None, proc.stdout.read()
        time.sleep(0.2)
    raise AssertionError("no checkpoint appeared")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    root = tmp_path_factory.mktemp("reference")
    proc = _launch(root / "store", root / "cache", checkpoint_every="3600")  # no checkpoint until the end
    assert proc.wait(timeout=300) == 0, proc.stdout.read()
    folder = next((root / "store").iterdir())
    provenance = json.loads((folder / "provenance.json").read_text())
    # rdvae train sets the flag before torch starts its threads, so every thread flushed denormals
    assert provenance["flush_denormal"] is True and provenance["denormals_flushed"] == "all threads"
    assert re.fullmatch(re.escape(cpu_model()) + r" \(\d+ threads\)", provenance["device_name"])
    return {name: (folder / name).read_text() for name in ("members.csv", "curves.csv")}


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_a_killed_run_resumes_to_the_same_numbers(tmp_path, uninterrupted, how):
    cache, store_dir = tmp_path / "cache", tmp_path / "store"
    proc = _launch(store_dir, cache)
    _wait_for_checkpoint(cache, proc)
    proc.send_signal(how)
    code = proc.wait(timeout=60)
    output = proc.stdout.read()
    if how == signal.SIGTERM:
        assert code == 130 and "run the same command again to resume" in output
    else:
        assert code == -signal.SIGKILL
    assert not store_dir.exists() or not any(store_dir.iterdir())  # nothing half-written in the store
    resumed = _launch(store_dir, cache)
    assert resumed.wait(timeout=300) == 0
    assert "resuming" in resumed.stdout.read()
    assert (next(store_dir.iterdir()) / "members.csv").read_text() == uninterrupted["members.csv"]


def test_time_stopped_is_left_out_of_train_seconds_and_survives_a_resume(tmp_path, uninterrupted):
    """A run stopped (SIGSTOP) for 8 s, then interrupted and resumed: the 8 s are its paused_seconds,
    carried through the checkpoint, not its train_seconds; its numbers are the uninterrupted run's."""
    cache, store_dir = tmp_path / "cache", tmp_path / "store"
    begun = time.monotonic()
    proc = _launch(store_dir, cache)
    _wait_for_checkpoint(cache, proc, minimum=20)
    proc.send_signal(signal.SIGSTOP)
    time.sleep(8.0)
    proc.send_signal(signal.SIGCONT)
    time.sleep(1.0)  # the pause clock's thread wakes at once; the loop takes it in at its next step
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 130, proc.stdout.read()
    resumed = _launch(store_dir, cache)
    assert resumed.wait(timeout=300) == 0, resumed.stdout.read()
    wall = time.monotonic() - begun
    folder = next(store_dir.iterdir())
    provenance = json.loads((folder / "provenance.json").read_text())
    assert 7.0 <= provenance["paused_seconds"] <= 9.0  # the 8 s, less up to the clock's 1 s tick
    assert provenance["train_seconds"] <= wall - 7.0
    assert (folder / "members.csv").read_text() == uninterrupted["members.csv"]


def test_a_kept_shorter_run_continues_to_the_numbers_of_the_longer_run(tmp_path, uninterrupted):
    """Half the iterations with --keep-state, then the full count: the second run continues from the
    first's final state and ends with the numbers and curves of the run trained from scratch."""
    cache, store_dir = tmp_path / "cache", tmp_path / "store"
    half = _launch(store_dir, cache, "3600", "--keep-state", "--iterations", str(ITERATIONS // 2))
    assert half.wait(timeout=300) == 0, half.stdout.read()
    shorter = next(store_dir.iterdir())
    assert "kept the final state" in half.stdout.read()
    assert {p.name for p in (cache / "kept").iterdir()} == {f"{shorter.name}.pt", f"{shorter.name}.json"}
    assert not list((cache / "checkpoints").glob("*.pt"))

    full = _launch(store_dir, cache, "3600")  # COMMAND's --iterations 120; argparse keeps the last one
    assert full.wait(timeout=300) == 0
    assert f"extending {shorter.name} from iteration {ITERATIONS // 2}" in full.stdout.read()
    longer = next(p for p in store_dir.iterdir() if p != shorter)
    for name, text in uninterrupted.items():
        assert (longer / name).read_text() == text, name
    provenance = json.loads((longer / "provenance.json").read_text())
    assert provenance["extended_from"] == shorter.name and provenance["iterations_run"] == ITERATIONS


def test_only_the_same_configuration_ending_on_the_curve_grid_is_continued(tmp_path, monkeypatch):
    from rdvae import kept_states

    monkeypatch.setenv("RDVAE_CACHE", str(tmp_path))
    config = RunConfig(betas=(1.0,), seeds=(0,), **{**SMALL, "iterations": 100})
    folder = kept_states.kept_dir()
    folder.mkdir()
    assert kept_states.extendable(config) is None

    def kept(**change):
        other = RunConfig.from_json({**config.to_json(), **change})
        (folder / f"{other.run_id}.json").write_text(json.dumps(other.to_json()))
        (folder / f"{other.run_id}.pt").write_bytes(b"")
        return folder / f"{other.run_id}.pt"

    kept(iterations=100)  # the run itself: nothing to continue
    kept(iterations=200)  # longer
    kept(iterations=45)  # off the curve grid (eval_every 10)
    kept(iterations=40, betas=(0.5,))  # another configuration
    assert kept_states.extendable(config) is None
    kept(iterations=30)
    longest = kept(iterations=70)
    assert kept_states.extendable(config) == longest
    assert kept_states.extendable(RunConfig.from_json({**config.to_json(), "early_stopping": True})) is None
    monkeypatch.setattr(train, "Trainer", None)  # refused before anything trains
    with pytest.raises(ValueError, match="early stopping.*drop --keep-state"):
        train.run(RunConfig.from_json({**config.to_json(), "early_stopping": True}), keep_state=True)
    (folder / "broken.json").write_text("{")
    with pytest.raises(RuntimeError, match=r"broken\.json is unreadable.*delete it"):
        kept_states.extendable(config)


def test_every_committed_run_loads_and_matches_its_config():
    """The results shipped in results/<profile>/ parse, hash to their folder names, and runs written
    before a column was added read it as empty rather than failing."""
    results_dir = Path(__file__).parents[1] / "results"
    folders = sorted(p for p in results_dir.glob("*/*") if p.is_dir() and p.name != "tables")
    assert folders, "no committed runs found"
    for folder in folders:
        results = store.load_folder(folder)
        assert results.config.run_id == folder.name
        for row in results.members:
            assert set(row) == set(store.MEMBER_COLUMNS)
    for folder in results_dir.glob("*/tables/*"):  # the theory chapters' tables
        saved = json.loads((folder / "config.json").read_text())
        name = saved.pop("name")
        saved.pop("table_id")
        assert store.load_table(name, saved, folder.parents[1]).rows


def test_provenance_names_the_commit_given_where_there_is_no_git_checkout(monkeypatch):
    if (Path(__file__).parents[1] / ".git").exists():
        assert len(train.git_commit().removesuffix("-dirty")) == 40  # this checkout's HEAD
    not_a_repository = subprocess.CompletedProcess([], 128, stdout="", stderr="fatal: not a git repository")
    monkeypatch.setattr(train.subprocess, "run", lambda *a, **k: not_a_repository)
    monkeypatch.delenv("RDVAE_GIT_COMMIT", raising=False)
    assert train.git_commit() is None
    monkeypatch.setenv("RDVAE_GIT_COMMIT", "0123abc")
    assert train.git_commit() == "0123abc"


def test_provenance_names_the_commits_of_the_code_that_trained_the_run(tmp_path, monkeypatch):
    """The commit is taken when a process starts training, not when it ends (HEAD moves while a run of
    hours trains), and a resumed run lists every process's commit in order."""
    monkeypatch.setenv("RDVAE_CACHE", str(tmp_path))
    config = RunConfig(betas=(1.0,), seeds=(0,), **{**SMALL, "iterations": 10, "eval_every": 5})
    monkeypatch.setattr(train, "git_commit", lambda: "aaa")
    first = train.Trainer(config)
    monkeypatch.setattr(train, "git_commit", lambda: "bbb")  # a commit lands while it trains
    for _ in range(4):
        first.step()
    assert first.provenance()["git_commit"] == "aaa"
    first.save_checkpoint()
    resumed = train.Trainer(config)  # resumed by a process running commit bbb
    assert resumed.load_checkpoint()
    provenance = resumed.provenance()
    assert provenance["git_commit"] == "bbb" and provenance["git_commits"] == ["aaa", "bbb"]
    resumed.step()
    resumed.save_checkpoint()
    again = train.Trainer(config)  # resumed again under the same commit: listed once
    assert again.load_checkpoint() and again.provenance()["git_commits"] == ["aaa", "bbb"]


def test_provenance_names_the_machine_of_each_process_that_trained_the_run(tmp_path, monkeypatch):
    """Resumed on another machine, a run lists both, each from the iteration its process began at;
    resumed on the same one, nothing is added; a checkpoint that kept no machines names the first
    processes' as not recorded."""
    monkeypatch.setenv("RDVAE_CACHE", str(tmp_path))
    config = RunConfig(betas=(1.0,), seeds=(0,), **{**SMALL, "iterations": 10, "eval_every": 5})
    monkeypatch.setattr(train.Trainer, "device_name", lambda self: "Intel Xeon (1 threads)")
    first = train.Trainer(config)
    for _ in range(4):
        first.step()
    assert first.provenance()["machines"] == [{"from_iteration": 0, "machine": "Intel Xeon (1 threads)"}]
    first.save_checkpoint()
    monkeypatch.setattr(train.Trainer, "device_name", lambda self: "AMD EPYC (1 threads)")
    resumed = train.Trainer(config)
    assert resumed.load_checkpoint()
    both = [
        {"from_iteration": 0, "machine": "Intel Xeon (1 threads)"},
        {"from_iteration": 4, "machine": "AMD EPYC (1 threads)"},
    ]
    assert resumed.provenance()["machines"] == both
    assert resumed.provenance()["device_name"] == "AMD EPYC (1 threads)"
    resumed.step()
    resumed.save_checkpoint()
    again = train.Trainer(config)  # the same machine again: listed once
    assert again.load_checkpoint() and again.provenance()["machines"] == both

    state = torch.load(again.checkpoint_path(), weights_only=False)
    del state["machines"]  # as a checkpoint written before machines were kept
    torch.save(state, again.checkpoint_path())
    older = train.Trainer(config)
    assert older.load_checkpoint() and older.provenance()["machines"] == [
        {"from_iteration": 0, "machine": None},
        {"from_iteration": 5, "machine": "AMD EPYC (1 threads)"},
    ]


def test_denormals_are_flushed_where_asked_restored_after_and_recorded(tmp_path, monkeypatch):
    from rdvae.device import denormals_flushed

    monkeypatch.setenv("RDVAE_CACHE", str(tmp_path))
    smallest = torch.ones(1, dtype=torch.int32).view(torch.float32)  # 1.4e-45, from bits
    assert denormals_flushed() == (False, False) and (smallest * 2.0).item() > 0  # PyTorch's default
    config = RunConfig(betas=(1.0,), seeds=(0,), **SMALL)
    flushing = train.Trainer(config)
    with flushing.precision():
        assert denormals_flushed()[0] and (smallest * 2.0).item() == 0.0
    assert denormals_flushed() == (False, False)  # restored
    # this process's threads started long ago: only the main thread flushes (both, with one thread)
    assert flushing.provenance()["flush_denormal"] is True
    assert flushing.provenance()["denormals_flushed"] in ("all threads", "main thread")
    keeping = train.Trainer(config, flush_denormal=False)
    with keeping.precision():
        assert denormals_flushed() == (False, False)
    assert keeping.provenance()["denormals_flushed"] == "no"

    keeping.step()
    keeping.save_checkpoint()  # a run resumes only with the arithmetic it started with
    with pytest.raises(RuntimeError, match="--no-flush-denormal"):
        train.Trainer(config).load_checkpoint()
    assert train.Trainer(config, flush_denormal=False).load_checkpoint()


def test_cuda_fp32_precision_switches_both_flags_and_restores_them_even_after_an_error():
    """The CUDA precision flags can be set without a GPU, so the CUDA branch runs here too."""
    from rdvae.device import cuda_fp32_precision

    flags = (torch.backends.cuda.matmul, torch.backends.cudnn.conv)
    before = [flag.fp32_precision for flag in flags]
    try:
        for flag in flags:
            flag.fp32_precision = "tf32"
        with cuda_fp32_precision(torch.device("cuda"), tf32=False):
            assert [flag.fp32_precision for flag in flags] == ["ieee", "ieee"]
        assert [flag.fp32_precision for flag in flags] == ["tf32", "tf32"]
        with pytest.raises(RuntimeError, match="inside"), cuda_fp32_precision(torch.device("cuda:1"), False):
            raise RuntimeError("an error inside")
        assert [flag.fp32_precision for flag in flags] == ["tf32", "tf32"]
        for flag in flags:
            flag.fp32_precision = "ieee"
        with cuda_fp32_precision(torch.device("cuda"), tf32=True):
            assert [flag.fp32_precision for flag in flags] == ["tf32", "tf32"]
        with cuda_fp32_precision(torch.device("cpu"), tf32=True):  # nothing to switch on the CPU
            assert [flag.fp32_precision for flag in flags] == ["ieee", "ieee"]
        assert [flag.fp32_precision for flag in flags] == ["ieee", "ieee"]
    finally:
        for flag, value in zip(flags, before, strict=True):
            flag.fp32_precision = value


def test_a_saved_state_of_another_configuration_or_stack_layout_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("RDVAE_CACHE", str(tmp_path))
    config = RunConfig(betas=(1.0, 0.5), seeds=(0,), **SMALL)
    saved = train.Trainer(config, stack_size=2)
    saved.step()
    saved.save_checkpoint()
    with pytest.raises(RuntimeError, match="another configuration or stack layout; resume with the same"):
        train.Trainer(config, stack_size=1).load_checkpoint()
    assert train.Trainer(config, stack_size=2).load_checkpoint()

    longer = {**config.to_json(), "iterations": 2 * config.iterations}
    path = saved.checkpoint_path()
    for other, stack_size in ((longer | {"betas": [1.0, 0.25]}, 2), (longer, 1)):
        with pytest.raises(RuntimeError, match="another configuration or stack layout; train with"):
            train.Trainer(RunConfig.from_json(other), stack_size=stack_size).extend(path)
    extended = train.Trainer(RunConfig.from_json(longer), stack_size=2)
    extended.extend(path)
    assert extended.extended_from == config.run_id and extended.iteration == 1


def test_a_run_of_more_betas_joins_the_stored_run_it_extends(tmp_path):
    # Members draw from generators of their own seed, so with stacks of one the base grid plus an
    # extension (itself stored a seed at a time) is the whole grid's run, number for number
    whole_config = RunConfig(betas=(0.25, 0.75, 4.0), seeds=(0, 1), **SMALL)
    whole = train.run(whole_config, store_path=tmp_path / "whole", stack_size=1, progress=False)
    base = replace(whole_config, betas=(0.25, 4.0))
    extension = replace(whole_config, betas=(0.75,))
    parts = tmp_path / "parts"
    train.run(base, store_path=parts, stack_size=1, progress=False)
    first_shard, second_shard = store.seed_shards(extension)
    train.run(first_shard, store_path=parts, stack_size=1, progress=False)
    assert store.extra_beta_grids(base, parts) == [(0.75,)]
    assert store.load_with_extra_betas(base, parts).config == base  # never joined with a seed missing
    train.run(second_shard, store_path=parts, stack_size=1, progress=False)

    joined = store.load_with_extra_betas(base, parts)
    assert joined.config == whole_config
    assert joined.members == whole.members and joined.curves == whole.curves
    assert joined.reconstructions.keys() == whole.reconstructions.keys()
    for key, value in whole.reconstructions.items():
        np.testing.assert_array_equal(joined.reconstructions[key], value, err_msg=key)
    assert [p["run_id"] for p in joined.provenance["beta_parts"]] == [base.run_id, extension.run_id]
    assert store.load(base, parts).config == base  # the exact run, for a chapter that sets its betas
    assert store.extra_beta_grids(extension, parts) == [(0.25, 4.0)]  # the base extends it as well

    # and the whole run cut back to the base's betas is the base's run
    cut = store.restrict_betas(whole, base.betas)
    stored = store.load(base, parts)
    assert cut.config == base and cut.members == stored.members and cut.curves == stored.curves
    for key, value in stored.reconstructions.items():
        np.testing.assert_array_equal(cut.reconstructions[key], value, err_msg=key)
