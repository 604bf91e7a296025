"""Runs trained twice (rdvae.twins): a longer run trained from scratch repeats its shorter twin's
learning curve exactly on one machine, and where it does not, the table says where they part and by
how much, beside how far two seeds are apart at that point."""

import csv
import json

from rdvae import cli, store, train, twins
from rdvae.config import RunConfig

SMALL = dict(
    split="cv-0.1", arch="mlp1", train_limit=512, eval_every=10, curve_examples=64, eval_examples=256,
    iwae_samples=4, iwae_examples=32, mi_batch=64, hard_example_pool=64,
)  # fmt: skip


def _rows(seed, values):
    """curves.csv rows of one seed: {(iteration, beta, partition): distortion}, rate 1.0 throughout."""
    return [
        {"iteration": i, "beta": b, "seed": seed, "partition": p, "rate": 1.0, "distortion": d}
        for (i, b, p), d in values.items()
    ]


def test_the_identical_prefix_and_the_largest_test_gap_after_it():
    short = {(i, b, p): 100.0 - i + b for i in (0, 10, 20) for b in (0.5, 2.0) for p in ("train", "test")}
    long = dict(short) | {(30, 0.5, "test"): 50.0}  # a point the shorter run does not hold
    long[(20, 2.0, "test")] += 0.7
    long[(20, 0.5, "test")] -= 0.2
    long[(20, 0.5, "train")] += 5.0  # training partition: parts the curves, not a test gap
    other_seed = _rows(1, {k: v + 9.0 for k, v in short.items()})  # never compared with seed 0

    agree = twins.curve_agreement(_rows(0, short) + other_seed, _rows(0, long) + other_seed, seed=0)
    assert (agree.points, agree.identical, agree.identical_through) == (12, 9, 10)
    assert abs(agree.largest_test_gap - 0.7) < 1e-9 and agree.largest_at == (2.0, 20)

    same = twins.curve_agreement(_rows(0, short), _rows(0, short), seed=0)
    assert same == twins.CurveAgreement(12, 12, 20, 0.0, None)
    first_differs = twins.curve_agreement(_rows(0, short), _rows(0, {**short, (0, 0.5, "test"): 1.0}), seed=0)
    assert first_differs.identical_through is None and first_differs.largest_at == (0.5, 0)


def _test_distortion(folder, seed, beta, iteration):
    with open(folder / "curves.csv", newline="") as handle:
        (value,) = [
            float(r["distortion"])
            for r in csv.DictReader(handle)
            if (int(r["seed"]), float(r["beta"]), int(r["iteration"]), r["partition"])
            == (seed, beta, iteration, "test")
        ]
    return value


def test_a_run_trained_longer_from_scratch_repeats_its_shorter_twin(tmp_path, monkeypatch, capsys):
    short = RunConfig(betas=(0.5, 2.0), seeds=(0, 1), iterations=20, **SMALL)
    long = RunConfig(betas=(0.5, 2.0), seeds=(0, 1), iterations=40, **SMALL)
    for config in (short, long):
        train.run(config, store_path=tmp_path, stack_size=2, progress=False)

    found = twins.find_twins("smoke", tmp_path)
    assert [(t.seed, t.runs, t.iterations) for t in found] == [
        (seed, (short.run_id, long.run_id), (20, 40)) for seed in (0, 1)
    ]
    for pair in found:  # iterations 0, 10, 20 x 2 betas x 2 partitions, bit for bit
        assert pair.agreement == twins.CurveAgreement(12, 12, 20, 0.0, None) and pair.seed_spread is None
        assert pair.row()["identical points"] == "12 of 12"
    monkeypatch.setattr(store, "profile_store", lambda profile: tmp_path)  # as the smoke store
    assert cli.main(["runs", "--profile", "smoke", "--twins"]) == 0
    printed = capsys.readouterr().out
    assert "smoke: 2 seeds stored at two budgets, each trained from scratch" in printed
    assert printed.count("20 / 40") == 2 and printed.count("12 of 12") == 2

    # the longer run as another machine might have computed it: one test point moved by 1.5 nats
    curves = tmp_path / long.run_id / "curves.csv"
    rows = list(csv.DictReader(curves.open(newline="")))
    for row in rows:
        if (row["seed"], float(row["beta"]), row["iteration"], row["partition"]) == ("0", 2.0, "20", "test"):
            row["distortion"] = repr(float(row["distortion"]) + 1.5)
    with curves.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    moved = twins.find_twins("smoke", tmp_path)[0].agreement
    assert (moved.identical, moved.identical_through, moved.largest_at) == (11, 10, (2.0, 20))
    assert abs(moved.largest_test_gap - 1.5) < 1e-9
    seed_0, seed_1 = (_test_distortion(tmp_path / short.run_id, seed, 2.0, 20) for seed in (0, 1))
    assert abs(twins.find_twins("smoke", tmp_path)[0].seed_spread - abs(seed_0 - seed_1)) < 1e-9

    # a run continued from the shorter one's kept state shares its curve by construction: not a twin
    provenance = tmp_path / long.run_id / "provenance.json"
    provenance.write_text(json.dumps(json.loads(provenance.read_text()) | {"extended_from": short.run_id}))
    assert twins.find_twins("smoke", tmp_path) == []
