"""benchmarks/device_session.py, the prepared call for a lent GPU, run here on the CPU: it runs the
GPU tests first, skips what the store holds and what does not fit the time left, trains the rest in
child processes and packs each finished run folder, so a GPU session's results come back whole."""

import argparse
import importlib.util
import json
import shutil
import sys
import tarfile
from pathlib import Path

import pytest

from rdvae import runs, store

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("device_session", REPO / "benchmarks" / "device_session.py")
device_session = sys.modules["device_session"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(device_session)

SMOKE = ("smoke", ("cv-0.1", "mlp1"), None)
STORED = ("cpu", ("cv-0.1", "mlp1"), None)  # committed under results/cpu


@pytest.fixture
def store_root(tmp_path, monkeypatch):
    """A results store holding one committed cpu run, so the session finds it stored."""
    root = tmp_path / "results"
    run_id = runs.config_for(*STORED[:2]).run_id
    shutil.copytree(REPO / "results" / "cpu" / run_id, root / "cpu" / run_id)
    monkeypatch.setenv(store.STORE_ENV, str(root))
    return root


def test_a_session_tests_first_skips_the_stored_run_trains_the_rest_and_packs_it(tmp_path, store_root):
    out = tmp_path / "out"
    report = device_session.session(
        out, budget_s=600, device="cpu", candidates=(STORED, SMOKE), probe_steps=3
    )

    assert report["gpu_tests"]["exit"] == 0  # no CUDA here: collected and skipped, not failed
    assert "skipped" in report["gpu_tests"]["summary"][0]
    statuses = {r["profile"]: r["status"] for r in report["runs"]}
    assert statuses == {"cpu": "stored already", "smoke": "trained"}
    smoke = next(r for r in report["runs"] if r["profile"] == "smoke")
    assert smoke["estimate_s"] > 0 and smoke["actual_s"] > 0
    (probe,) = report["probes"].values()
    assert probe["members"] == len(runs.config_for(*SMOKE[:2]).members) and probe["ratio_vs_looped"] > 0
    assert json.loads((out / "session.json").read_text())["runs"] == report["runs"]

    run_id = runs.config_for(*SMOKE[:2]).run_id
    with tarfile.open(out / "runs.tgz") as archive:
        names = archive.getnames()
        archive.extractall(tmp_path / "unpacked", filter="data")
    assert {Path(n).parts[:3] for n in names if len(Path(n).parts) > 2} == {("results", "smoke", run_id)}
    unpacked = tmp_path / "unpacked" / "results" / "smoke" / run_id
    packed = store.load_folder(unpacked, runs.config_for(*SMOKE[:2]))
    assert packed.provenance["device"] == "cpu"
    assert len(packed.rows("test")) == len(runs.config_for(*SMOKE[:2]).members)


def test_a_run_that_does_not_fit_the_time_left_is_not_started(tmp_path, store_root, monkeypatch):
    slow = device_session.Probe(stacked_step_s=10.0, looped_step_s=10.0, members=3)
    monkeypatch.setattr(device_session, "probe", lambda *args, **kwargs: slow)
    monkeypatch.setattr(device_session, "train_in_child", lambda *a, **k: pytest.fail("started a run"))
    report = device_session.session(
        tmp_path / "out", budget_s=120, device="cpu", candidates=(SMOKE,), tests=False
    )
    (outcome,) = report["runs"]
    assert outcome["status"] == "skipped" and outcome["note"].startswith("estimated")
    assert outcome["estimate_s"] > 20 * 10.0  # 20 smoke iterations at 10 s each, and more
    assert not (tmp_path / "out" / "runs.tgz").exists()


def test_too_little_time_to_probe_skips_without_building_anything(tmp_path, store_root, monkeypatch):
    monkeypatch.setattr(device_session, "probe", lambda *a, **k: pytest.fail("probed"))
    report = device_session.session(
        tmp_path / "out", budget_s=30, device="cpu", candidates=(SMOKE,), tests=False
    )
    assert report["runs"][0]["status"] == "skipped" and "too little to probe" in report["runs"][0]["note"]


def test_bad_arguments_are_refused_with_the_fix(tmp_path):
    with pytest.raises(SystemExit):
        device_session.main(["--out", str(tmp_path), "--budget", "-5"])
    with pytest.raises(SystemExit):
        device_session.main(["--out", str(tmp_path), "--budget", "60", "--candidates", "paper:cv-0.1"])
    with pytest.raises(ValueError, match="unknown profile"):
        device_session.parse_candidate("huge:cv-0.1:mlp1")
    for bad in ("long:default:mlp3@", "long:default:mlp3@0", "long:default:mlp3@1e5"):
        with pytest.raises(argparse.ArgumentTypeError, match="@ITERATIONS"):
            device_session.parse_candidate(bad)
    assert device_session.parse_candidate("long:default:mlp3@100000") == ("long", ("default", "mlp3"), 100000)
    assert device_session.parse_candidate("cpu:cv-0.1:mlp1:early-stopping")[2] is None


def test_a_candidate_trained_longer_than_its_profile_comes_back_at_that_budget(tmp_path, store_root):
    longer = ("smoke", ("cv-0.1", "mlp1"), 2 * runs.config_for("smoke", ("cv-0.1", "mlp1")).iterations)
    out = tmp_path / "out"
    report = device_session.session(out, budget_s=600, device="cpu", candidates=(longer,), tests=False)
    config = runs.config_for(*longer[:2], iterations=longer[2])
    (outcome,) = report["runs"]
    assert (outcome["status"], outcome["iterations"]) == ("trained", longer[2])
    assert outcome["run_id"] == config.run_id
    with tarfile.open(out / "runs.tgz") as archive:
        archive.extractall(tmp_path / "unpacked", filter="data")
    packed = store.load_folder(tmp_path / "unpacked" / "results" / "smoke" / config.run_id, config)
    assert packed.config.iterations == longer[2] and packed.provenance["iterations_run"] == longer[2]


def test_the_default_candidates_are_the_paper_runs_then_those_the_store_lacks(store_root):
    listed = device_session.default_candidates()
    paper = len(device_session.PAPER_CANDIDATES)
    assert tuple(listed[:paper]) == device_session.PAPER_CANDIDATES and len(set(listed)) == len(listed)
    rest = listed[paper:]
    assert rest, "a store holding one cpu run lacks runs that decide claims"
    for profile, key, iterations in rest:
        config = runs.config_for(profile, key, iterations=iterations)
        assert store.load(config, store.profile_store(profile)) is None, (profile, key, iterations)


def test_the_default_candidates_end_with_the_runs_that_extend_claims_to_the_longest_budget(
    store_root, monkeypatch
):
    from rdvae import ledger

    extend = ledger.RunToTrain(("long", 100_000), ("cd-0.1", "mlp1"), ("F4c",), 4)
    monkeypatch.setattr(ledger, "runs_to_extend", lambda claims, evidence: [extend])
    listed = device_session.default_candidates()
    assert listed[-1] == ("long", ("cd-0.1", "mlp1"), 100_000)
    assert listed.index(listed[-1]) > len(device_session.PAPER_CANDIDATES)  # after the rest of --next


def test_failing_gpu_tests_leave_the_probes_but_train_nothing(tmp_path, store_root, monkeypatch):
    fast = device_session.Probe(stacked_step_s=0.01, looped_step_s=0.02, members=3)
    monkeypatch.setattr(device_session, "run_gpu_tests", lambda out, timeout_s: {"exit": 1, "summary": []})
    monkeypatch.setattr(device_session, "probe", lambda *args, **kwargs: fast)
    monkeypatch.setattr(device_session, "train_in_child", lambda *a, **k: pytest.fail("trained anyway"))
    report = device_session.session(tmp_path / "out", budget_s=600, device="cpu", candidates=(SMOKE,))
    assert report["probes"] and report["runs"][0]["note"] == "not trained: the GPU tests did not pass"
    assert device_session.main(["--out", str(tmp_path / "cli"), "--budget", "600", "--device", "cpu",
                                "--candidates", "smoke:cv-0.1:mlp1"]) == 1  # fmt: skip


LONG = ("long", ("cv-0.05", "mlp1"), None)  # 4 betas x 2 seeds, not stored


@pytest.fixture
def fake_training(store_root, monkeypatch):
    """Probes that make a whole ``long`` configuration take hours and one seed of it a minute; a
    child that records what it was asked to train and leaves a folder for pack(); no rendering."""
    from rdvae.data import tetrominoes

    def probe(config, *args, **kwargs):
        step = 1.0 if len(config.seeds) > 1 else 1e-3
        return device_session.Probe(stacked_step_s=step, looped_step_s=step, members=len(config.members))

    trained = []

    def train_in_child(profile, key, device, timeout_s, log, seeds=None, iterations=None):
        config = runs.config_for(profile, key, seeds=tuple(seeds) if seeds else None)
        (store.profile_store(profile) / config.run_id).mkdir(parents=True)
        (store.profile_store(profile) / config.run_id / "members.csv").write_text("")
        trained.append(seeds)
        return "trained", 1.0

    monkeypatch.setattr(tetrominoes, "load_images", lambda **kwargs: None)
    monkeypatch.setattr(device_session, "probe", probe)
    monkeypatch.setattr(device_session, "train_in_child", train_in_child)
    return trained


def test_a_configuration_too_long_for_the_call_is_trained_a_seed_at_a_time(tmp_path, fake_training):
    report = device_session.session(
        tmp_path / "out", budget_s=600, device="cpu", candidates=(LONG,), tests=False
    )
    whole, *pieces = report["runs"]
    assert whole["status"] == "in seed shards" and whole["note"].startswith("whole configuration estimated")
    shards = store.seed_shards(runs.config_for(*LONG[:2]))
    assert [(p["run_id"], p["seeds"], p["status"]) for p in pieces] == [
        (s.run_id, list(s.seeds), "trained") for s in shards
    ]
    assert fake_training == [[0], [1]]
    with tarfile.open(tmp_path / "out" / "runs.tgz") as archive:
        packed = {Path(n).parts[2] for n in archive.getnames() if len(Path(n).parts) > 2}
    assert packed == {s.run_id for s in shards}


def test_the_seeds_an_earlier_call_brought_back_are_not_trained_again(tmp_path, fake_training, monkeypatch):
    first, second = store.seed_shards(runs.config_for(*LONG[:2]))
    fast = device_session.Probe(stacked_step_s=1e-3, looped_step_s=1e-3, members=8)
    monkeypatch.setattr(device_session, "probe", lambda *a, **k: fast)  # the whole would fit: not trained
    real_load = store.load
    monkeypatch.setattr(
        store, "load", lambda config, root=None: True if config == first else real_load(config, root)
    )
    report = device_session.session(
        tmp_path / "out", budget_s=600, device="cpu", candidates=(LONG,), tests=False
    )
    whole, piece = report["runs"]
    assert whole["status"] == "in seed shards" and whole["note"] == "1 of 2 seeds stored before this call"
    assert piece["run_id"] == second.run_id and fake_training == [[1]]


def test_a_resumed_run_is_estimated_for_the_iterations_it_has_left():
    config = runs.config_for(*LONG[:2])
    step, done = 0.01, 30_000
    saved = device_session.estimate(config, step) - device_session.estimate(config, step, done)
    per_eval = 2 * config.curve_examples * step / (3 * config.batch_size)  # a curve point, both partitions
    assert saved == pytest.approx(done * step + done / config.eval_every * per_eval)


def test_the_checkpointed_iteration_is_read_from_the_trainers_checkpoint(tmp_path, monkeypatch):
    from rdvae import paths
    from rdvae.train import Trainer

    monkeypatch.setenv(paths.CACHE_ENV, str(tmp_path / "cache"))
    config = runs.config_for(*SMOKE[:2])
    assert device_session.checkpointed_iteration(config) == 0  # none
    trainer = Trainer(config, "cpu")
    for _ in range(3):
        trainer.step()
    trainer.save_checkpoint()
    assert device_session.checkpointed_iteration(config) == 3
    trainer.checkpoint_path().write_bytes(b"not a checkpoint")
    assert device_session.checkpointed_iteration(config) == 0  # the trainer refuses it with the fix


def test_a_run_longer_than_the_call_starts_only_if_the_next_call_can_finish_it(
    tmp_path, store_root, monkeypatch
):
    """A whole configuration estimated at 1000 s, in calls of 600 s: skipped without a next call;
    with one, stopped at the deadline (checkpoint kept), then resumed and finished by the next call."""
    from rdvae.data import tetrominoes

    config = runs.config_for(*LONG[:2])
    step = 1000 / config.iterations  # ~1000 s of steps; the evaluations add a few seconds
    monkeypatch.setattr(tetrominoes, "load_images", lambda **kwargs: None)
    monkeypatch.setattr(
        device_session, "probe", lambda *a, **k: device_session.Probe(step, step, len(config.members))
    )
    monkeypatch.setattr(store, "seed_shards", lambda config: [])  # the whole configuration, no seeds
    checkpoint = {"iteration": 0}
    monkeypatch.setattr(device_session, "checkpointed_iteration", lambda config: checkpoint["iteration"])
    timeouts = []

    def train_in_child(profile, key, device, timeout_s, log, seeds=None, iterations=None):
        timeouts.append(timeout_s)
        if checkpoint["iteration"] == 0:  # the first call: stopped at its deadline
            checkpoint["iteration"] = int(0.55 * config.iterations)
            return "stopped", timeout_s
        (store.profile_store(profile) / config.run_id).mkdir(parents=True)
        return "trained", 400.0

    monkeypatch.setattr(device_session, "train_in_child", train_in_child)

    def call(next_call_s):
        report = device_session.session(
            tmp_path / f"out{len(timeouts)}", 600, "cpu", (LONG,), tests=False, next_call_s=next_call_s
        )
        return report["runs"][0]

    alone = call(next_call_s=0)
    assert alone["status"] == "skipped" and not timeouts
    first = call(next_call_s=600)
    assert first["status"] == "stopped" and "lets the next call on this machine finish it" in first["note"]
    assert timeouts[0] <= 600 - device_session.PACKING_RESERVE_S
    second = call(next_call_s=0)
    assert second["status"] == "trained" and second["resumed_at"] == checkpoint["iteration"]
    assert second["estimate_s"] < 600 < first["estimate_s"]
