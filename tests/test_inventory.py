"""The store's inventory (``rdvae runs``, chapter 14): one row per configuration, shards merged."""

import json
from dataclasses import replace

import pytest

from rdvae import cli, inventory, ledger, progress, runs, store, train
from rdvae.config import RunConfig

BASE = RunConfig(split="cv-0.1", arch="mlp1", betas=(0.01, 3.0), seeds=(0, 1), iterations=256)


def _stored(
    root,
    config: RunConfig,
    seconds: float,
    device: str = "cpu",
    name: str | None = None,
    machine=None,
    finished: str = "2026-12-01T00:00:00Z",
):
    """A run folder as :func:`rdvae.store.save` writes it, as far as the inventory reads it."""
    folder = root / (name or config.run_id)
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"run_id": config.run_id, **config.to_json()}))
    provenance = {"train_seconds": seconds, "device": device, "finished": finished}
    if machine is not None:
        provenance["device_name"] = machine
    (folder / "provenance.json").write_text(json.dumps(provenance))
    return folder


def test_seed_shards_are_one_configuration_with_summed_and_longest_hours(tmp_path):
    shards = store.seed_shards(BASE)
    _stored(tmp_path, shards[0], 3600.0, machine="Xeon (1 threads)")
    _stored(tmp_path, shards[1], 5400.0, machine="Xeon (1 threads)")
    _stored(
        tmp_path, replace(BASE, iterations=512), 7200.0, machine="cpu"
    )  # trained longer; older provenance
    _stored(tmp_path, replace(BASE, arch="mlp3"), 1800.0, device="cuda", machine="NVIDIA H200")
    (tmp_path / "tables").mkdir()  # not a run
    _stored(tmp_path, replace(BASE, arch="cnn1"), 1.0, name=".cnn1-being-written.tmp-1")

    found = inventory.stored_configurations("long", tmp_path)
    listed = [(c.config.arch, c.config.iterations) for c in found]
    assert listed == [("mlp1", 256), ("mlp1", 512), ("mlp3", 256)]
    sharded = found[0]
    assert sharded.config == BASE  # both seeds, in seed order
    assert sharded.folders == tuple(s.run_id for s in shards)
    assert sharded.hours == pytest.approx(2.5) and sharded.longest_hours == pytest.approx(1.5)
    row = sharded.row()
    assert row["configuration"] == "MLP1 CV(16k/147k)" and row["seeds"] == "0,1" and row["folders"] == 2
    assert row["epochs"] == 2  # 256 iterations x 128 images / 16,384 (SPEC: CV(16k/147k) trains on 16,384)
    assert row["machine"] == "Xeon (1 threads)" and found[1].row()["machine"] == "not recorded"
    assert found[2].row()["device"] == "cuda" and found[2].row()["machine"] == "NVIDIA H200"
    assert inventory.total_hours(found) == pytest.approx(2.5 + 2 + 0.5)


def test_a_run_trained_on_two_machines_names_both_with_the_iteration_the_second_took_over():
    history = [
        {"from_iteration": 0, "machine": "Intel Xeon (1 threads)"},
        {"from_iteration": 26_015, "machine": "AMD EPYC (1 threads)"},
    ]
    provenance = {"device_name": "AMD EPYC (1 threads)", "machines": history}
    assert inventory.machine(provenance) == "Intel Xeon (1 threads) until 26,015, then AMD EPYC (1 threads)"
    unknown_first = [{"from_iteration": 0, "machine": None}, history[1]]
    assert inventory.machine({**provenance, "machines": unknown_first}) == (
        "not recorded until 26,015, then AMD EPYC (1 threads)"
    )
    assert inventory.machine({**provenance, "machines": history[1:]}) == "AMD EPYC (1 threads)"


@pytest.mark.parametrize("reverse", [False, True])
def test_a_whole_run_beside_its_own_shard_counts_its_seeds_once(tmp_path, monkeypatch, reverse):
    _stored(tmp_path, BASE, 7200.0)
    _stored(tmp_path, store.seed_shards(BASE)[0], 3600.0)
    listed = store.stored_runs(tmp_path)
    monkeypatch.setattr(store, "stored_runs", lambda _folder: listed[::-1] if reverse else listed)
    (found,) = inventory.stored_configurations("long", tmp_path)
    assert found.folders == (BASE.run_id,) and found.hours == pytest.approx(2.0)
    monkeypatch.undo()
    third = _stored(tmp_path, replace(BASE, seeds=(2,)), 1800.0)  # a further seed, trained apart
    (found,) = inventory.stored_configurations("long", tmp_path)
    assert found.config.seeds == (0, 1, 2) and found.folders == (BASE.run_id, third.name)
    assert found.hours == pytest.approx(2.5)


def test_a_run_of_a_dataset_whose_files_are_not_here_is_listed_without_its_epochs(tmp_path, monkeypatch):
    monkeypatch.setenv("RDVAE_DATA", str(tmp_path / "no-data"))
    _stored(tmp_path / "store", replace(BASE, dataset="mnist"), 60.0)
    (found,) = inventory.stored_configurations("cpu", tmp_path / "store")
    assert found.row()["configuration"] == "MLP1 mnist cv-0.1" and found.row()["epochs"] == "?"


def test_a_misnamed_run_folder_is_an_error_naming_it(tmp_path):
    _stored(tmp_path, BASE, 60.0, name="mlp1-cv-0.1-000000000000")
    with pytest.raises(store.StoreError, match="mlp1-cv-0.1-000000000000.*wrong name"):
        inventory.stored_configurations("long", tmp_path)


@pytest.mark.parametrize(
    "key",
    [("cv-0.1", "mlp1"), ("cv-0.1", "mlp1", "early-stopping"), ("cv-0.1", "mlp3", "objective=mi-removed"),
     ("cv-0.1", "mlp3", "dataset=digits"), ("cd-0.4", "cnn3")],
)  # fmt: skip
def test_run_key_inverts_config_for(key):
    assert runs.run_key(runs.config_for("cpu", key)) == key


@pytest.mark.parametrize("profile", ["smoke", "cpu", "paper"])
def test_given_its_profile_the_key_of_appendix_a8s_beta_vae_arm_is_not_the_ordinary_runs(profile):
    arm = ("cv-0.1", "mlp3", "objective=beta-vae")
    assert runs.run_key(runs.config_for(profile, arm), profile) == arm
    assert runs.run_key(runs.config_for(profile, arm)) == ("cv-0.1", "mlp3")  # its config alone cannot tell
    ordinary = ("cv-0.1", "mlp3")
    assert runs.run_key(runs.config_for(profile, ordinary), profile) == ordinary
    assert runs.label(arm) == "MLP3 CV(16k/147k), beta-vae objective"


def test_runs_command_prints_each_profile_and_fails_on_a_broken_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(store.STORE_ENV, str(tmp_path))
    _stored(tmp_path / "long", BASE, 3600.0)
    assert cli.main(["runs"]) == 0  # only the profiles with a store folder
    out = capsys.readouterr().out
    assert out.startswith(f"long: 1 configuration in {tmp_path / 'long'}, 1.0 hours of training")
    assert "MLP1 CV(16k/147k)" in out and "cpu:" not in out
    (tmp_path / "long" / BASE.run_id / "provenance.json").write_text("{not json")
    assert cli.main(["runs", "--profile", "long"]) == 1
    assert f"{BASE.run_id} is unusable" in capsys.readouterr().err


def test_the_run_alike_in_cost_steps_the_same_whatever_its_split_and_is_the_latest(tmp_path):
    _stored(tmp_path, BASE, 3600.0, finished="2026-11-01T00:00:00Z")
    _stored(tmp_path, replace(BASE, split="default"), 5400.0, finished="2026-12-02T00:00:00Z")
    _stored(tmp_path, replace(BASE, split="checkerboard", arch="mlp3"), 60.0)  # another architecture
    _stored(tmp_path, replace(BASE, split="cv-0.2", iterations=512), 60.0)  # another budget
    _stored(tmp_path, replace(BASE, split="cv-0.05", early_stopping=True), 60.0)  # stops on its own
    stored = inventory.stored_configurations("long", tmp_path)
    found = inventory.alike_in_cost(replace(BASE, split="cv-0.35"), stored)
    assert found.config.split == "default" and found.hours == pytest.approx(1.5)
    assert inventory.alike_in_cost(replace(BASE, seeds=(0,)), stored) is None  # half the members per step
    assert inventory.alike_in_cost(replace(BASE, dataset="mnist"), stored) is None
    assert inventory.alike_in_cost(replace(BASE, objective="mi-removed", batch_size=512), stored) is None


def test_a_run_unlike_any_of_its_profile_is_timed_by_member_steps_from_another(tmp_path, monkeypatch):
    monkeypatch.setenv(store.STORE_ENV, str(tmp_path))
    digits = replace(BASE, dataset="digits", betas=(0.01, 0.1, 0.3, 1.0, 3.0), iterations=6000)
    _stored(tmp_path / "cpu", digits, 3600.0)  # 6,000 x 5 x 2 = 60,000 member-steps
    _stored(tmp_path / "cpu", replace(digits, split="default", iterations=600), 60.0)  # fewer member-steps
    _stored(tmp_path / "long", replace(digits, arch="mlp3"), 60.0)  # another architecture
    key = runs.run_key(digits)
    wanted = runs.config_for("long", key)
    assert inventory.member_steps(wanted) == 50_000 * 4 * 2  # the long profile's budget
    found = inventory.alike_in_step(
        wanted, [c for p in ("cpu", "long") for c in inventory.stored_configurations(p)]
    )
    assert found.config == digits
    assert inventory.alike_in_step(replace(wanted, objective="mi-removed"), [found]) is None

    plan = inventory.training_plan([ledger.RunToTrain(("long", 50_000), key, ("F7a",), 2)])
    assert "scaled by member-steps (400,000 against 60,000) from MLP1 digits cv-0.1 at cpu" in plan[1]
    assert "about 6.7 h of training in all" in plan[1]  # 1 h x 400,000 / 60,000
    cnn = runs.run_key(replace(BASE, arch="cnn1"))
    plan = inventory.training_plan([ledger.RunToTrain(("long", 50_000), cnn, ("F6b",), 1)])
    assert plan[1].endswith("no alike run is stored at long to tell how long CNN1 CV(16k/147k) takes")


def test_a_part_trained_run_is_reported_from_its_shards_checkpoints(tmp_path, monkeypatch):
    """``rdvae verdicts --next`` names how far a run to train already is, from the checkpoint of a
    seed shard (how the long runs train), with the hours left at its speed and the shard's own resume
    command (the whole configuration's command resumes it too, a seed at a time)."""
    monkeypatch.setenv("RDVAE_CACHE", str(tmp_path))
    config = replace(runs.config_for("smoke", runs.run_key(BASE)), seeds=(0, 1))
    trainer = train.Trainer(store.seed_shards(config)[1])
    trainer.step()
    trainer.step()
    trainer.elapsed = 3600.0  # as if those 2 iterations had taken an hour
    trainer.save_checkpoint()
    (line,) = inventory.started(config, progress.in_progress())
    assert line.startswith(f"part-trained, seed 1: 2 of {config.iterations} iterations, ")
    assert f"~{(config.iterations - 2) / 2:.1f} h left at 0.000556 it/s" in line  # 2 iterations an hour
    assert "resume: rdvae train --profile smoke --arch mlp1 --split cv-0.1 --seeds 1" in line
    assert inventory.started(replace(config, arch="mlp3"), progress.in_progress()) == []  # not its checkpoint
    whole = {"run_id": config.run_id, "iteration": 5, "iterations": 20, "hours_left": None, "resume": None}
    assert inventory.started(config, [whole]) == [
        "part-trained, the whole run: 5 of 20 iterations; resume: the command that started it"
    ]


def test_a_run_with_a_stored_seed_shard_says_its_command_trains_only_the_others(tmp_path, monkeypatch):
    """``rdvae verdicts --next`` lists the whole configuration's command, which loads a stored seed
    shard instead of training it again (:func:`rdvae.train.run`); the plan says which seeds those are."""
    monkeypatch.setenv(store.STORE_ENV, str(tmp_path))
    second = store.seed_shards(BASE)[1]
    assert inventory.stored_shards(BASE, "long") == []
    _stored(tmp_path / "long", second, 3600.0)
    assert inventory.stored_shards(BASE, "long") == [
        f"stored already, seed 1 ({second.run_id}): the command trains the others"
    ]
    assert inventory.stored_shards(BASE, "cpu") == []  # another profile's store
    assert inventory.stored_shards(replace(BASE, seeds=(1,)), "long") == []  # one seed: no shards


def test_the_plan_lists_runs_already_begun_first(tmp_path, monkeypatch):
    """``rdvae verdicts --next`` puts a run already begun (here a seed stored on its own) before the
    runs the ledger orders ahead of it, whose training is all still to do; the others keep its order."""
    monkeypatch.setenv(store.STORE_ENV, str(tmp_path))
    monkeypatch.setenv("RDVAE_CACHE", str(tmp_path / "cache"))  # no checkpoints
    keys = [runs.run_key(replace(BASE, split=split)) for split in ("cv-0.05", "cv-0.2", "cv-0.35")]
    to_train = [ledger.RunToTrain(("long", 50_000), key, ("F4a",), 3) for key in keys]

    def commands() -> list[str]:
        return [line.split("--split ")[1].split()[0] for line in inventory.training_plan(to_train)
                if line.startswith("  rdvae train")]  # fmt: skip

    assert commands() == ["cv-0.05", "cv-0.2", "cv-0.35"]
    _stored(tmp_path / "long", store.seed_shards(runs.config_for("long", keys[2]))[1], 3600.0)
    assert commands() == ["cv-0.35", "cv-0.05", "cv-0.2"]
    plan = inventory.training_plan(to_train)
    assert plan[2].startswith("      stored already, seed 1 (")  # its lines move with it


def test_the_seeds_stored_on_their_own_are_found_per_budget(tmp_path, monkeypatch):
    """:func:`rdvae.inventory.seeds_stored` names the seed shards stored at a tier (profile and
    iterations), for the ledger's "waiting at" line; another budget's shard is not one of them."""
    monkeypatch.setenv(store.STORE_ENV, str(tmp_path))
    key = runs.run_key(BASE)
    long_config = runs.config_for("long", key, iterations=100_000)
    assert inventory.seeds_stored(("long", 100_000), key) == ()
    _stored(tmp_path / "long", store.seed_shards(long_config)[0], 3600.0)
    assert inventory.seeds_stored(("long", 100_000), key) == (0,)
    assert inventory.seeds_stored(("long", 50_000), key) == ()  # the shard is of the 100k run
