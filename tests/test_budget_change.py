"""What the longer budget changed (rdvae.budget_change): a configuration stored at two budgets, seed
shards merged, compared on its final evaluation, checked against members.csv read independently."""

import csv
import json
import shutil
from dataclasses import replace
from statistics import mean

import pytest

from rdvae import budget_change, cli, store, train
from rdvae.config import RunConfig

SMALL = dict(
    split="cv-0.1", arch="mlp1", train_limit=512, eval_every=10, curve_examples=64, eval_examples=256,
    iwae_samples=4, iwae_examples=32, mi_batch=64, hard_example_pool=64, betas=(0.5, 2.0),
)  # fmt: skip
SHORT = RunConfig(seeds=(0, 1), iterations=20, **SMALL)
LONG = replace(SHORT, iterations=40)


@pytest.fixture(scope="module")
def two_budgets(tmp_path_factory):
    """The shorter budget trained whole, the longer one a seed at a time (two shard folders)."""
    folder = tmp_path_factory.mktemp("store")
    train.run(SHORT, store_path=folder, stack_size=2, progress=False)
    for shard in store.seed_shards(LONG):
        train.run(shard, store_path=folder, stack_size=2, progress=False)
    return folder


def _distortions(folders, partition, beta, seeds=(0, 1)):
    """{seed: final distortion} from the members.csv of ``folders``, read with the csv module."""
    values = {}
    for folder in folders:
        with open(folder / "members.csv", newline="") as handle:
            for row in csv.DictReader(handle):
                if (row["partition"], float(row["beta"]), row["status"]) == (partition, beta, "ok"):
                    if int(row["seed"]) in seeds:
                        values[int(row["seed"])] = float(row["distortion"])
    return values


def test_the_change_and_the_seeds_spread_are_those_of_the_members_files(tmp_path, two_budgets):
    store_copy = tmp_path / "store"
    shutil.copytree(two_budgets, store_copy)
    short_folders = [store_copy / SHORT.run_id]
    long_folders = [store_copy / shard.run_id for shard in store.seed_shards(LONG)]

    (change,) = budget_change.budget_changes("smoke", store_copy)
    assert (change.iterations, change.seeds, change.betas) == ((20, 40), (0, 1), (0.5, 2.0))
    for k, beta in enumerate(change.betas):
        for partition, (short, long) in (("test", change.test), ("train", change.train)):
            expected_short = mean(_distortions(short_folders, partition, beta).values())
            expected_long = mean(_distortions(long_folders, partition, beta).values())
            assert short[k] == pytest.approx(expected_short, abs=1e-9)
            assert long[k] == pytest.approx(expected_long, abs=1e-9)
        assert change.test_change[k] == pytest.approx(change.test[1][k] - change.test[0][k], abs=1e-12)
        ranges = [
            max(values.values()) - min(values.values())
            for values in (_distortions(f, "test", beta) for f in (short_folders, long_folders))
        ]
        assert change.spread[k] == pytest.approx(max(ranges), abs=1e-9)
    moves = zip(change.betas, change.test_change, change.spread, strict=True)
    beyond = [beta for beta, delta, spread in moves if abs(delta) > spread]
    assert list(change.beyond_seeds) == beyond
    assert change.row()["moved beyond seeds"] == f"{len(beyond)} of 2"
    assert f"at {len(beyond)} of 2 betas" in budget_change.summary([change])

    # a diverged member is left out: at beta 2, the longer budget's test mean is seed 0's alone
    members = long_folders[1] / "members.csv"
    rows = list(csv.DictReader(members.open(newline="")))
    for row in rows:
        if (row["partition"], float(row["beta"])) == ("test", 2.0):
            row["status"] = "diverged"
    with members.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (change,) = budget_change.budget_changes("smoke", store_copy)
    assert change.test[1][1] == pytest.approx(_distortions(long_folders[:1], "test", 2.0)[0], abs=1e-9)
    short_range = max(_distortions(short_folders, "test", 2.0).values()) - min(
        _distortions(short_folders, "test", 2.0).values()
    )
    assert change.spread[1] == pytest.approx(short_range, abs=1e-9)  # the longer budget has one seed there

    # with only seed 0 at the longer budget, the seeds in common are (0,) and there is no spread
    shutil.rmtree(long_folders[1])
    (change,) = budget_change.budget_changes("smoke", store_copy)
    assert change.seeds == (0,) and change.spread == (None, None) and change.beyond_seeds == ()
    assert change.row()["moved beyond seeds"] == "-" and change.row()["seeds apart (test D)"] == "- / -"
    assert change.test[0][0] == pytest.approx(_distortions(short_folders, "test", 0.5, seeds=(0,))[0])


def test_three_budgets_give_a_row_per_consecutive_pair_and_one_budget_none(tmp_path, two_budgets):
    store_copy = tmp_path / "store"
    shutil.copytree(two_budgets, store_copy)
    # a third budget: the shorter run's folder relabelled as 80 iterations (its numbers do not matter)
    third = replace(SHORT, iterations=80)
    shutil.copytree(store_copy / SHORT.run_id, store_copy / third.run_id)
    config = {"run_id": third.run_id, **third.to_json()}
    (store_copy / third.run_id / "config.json").write_text(json.dumps(config))

    changes = budget_change.budget_changes("smoke", store_copy)
    assert [change.iterations for change in changes] == [(20, 40), (40, 80)]
    assert changes[1].test_change == pytest.approx([-d for d in changes[0].test_change], abs=1e-9)

    for folder in [third, *store.seed_shards(LONG)]:
        shutil.rmtree(store_copy / folder.run_id)
    assert budget_change.budget_changes("smoke", store_copy) == []
    assert budget_change.summary([]) == "no configuration is stored at two budgets"


def test_rdvae_runs_budgets_prints_the_table(two_budgets, monkeypatch, capsys):
    monkeypatch.setattr(store, "profile_store", lambda profile: two_budgets)  # as the smoke store
    assert cli.main(["runs", "--profile", "smoke", "--budgets"]) == 0
    printed = capsys.readouterr().out
    assert "smoke: 1 configuration stored at two budgets; the longer budget moved test D" in printed
    assert "20 / 40" in printed and "0.5 / 2" in printed
