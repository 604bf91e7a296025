"""rdvae sweep: the plan follows the ledger and the store, and a sweep on a local 2-CPU Ray cluster
survives a worker killed mid-run (Ray retries the task, which resumes from its checkpoint) with the
same numbers as the same runs trained uninterrupted without Ray, leaving nothing for a re-run to
train."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from rdvae import store, sweep
from rdvae.cli import main
from rdvae.config import RunConfig

ray = pytest.importorskip("ray")

CONFIGS = [
    dict(split="cv-0.1", arch="mlp1", betas=(0.3, 1.0), seeds=(seed,), iterations=100, train_limit=512,
         eval_every=20, curve_examples=64, eval_examples=256, iwae_samples=4, iwae_examples=32, mi_batch=64,
         hard_example_pool=64)
    for seed in (0, 1)
]  # fmt: skip
DRIVER = """
import json, sys
from rdvae import sweep
from rdvae.config import RunConfig
configs = [RunConfig(**c) for c in json.loads(sys.argv[1])]
results = sweep.run(configs, sys.argv[2], num_cpus=2, checkpoint_seconds=0, log=print)
sys.exit(1 if any("error" in r for r in results) else 0)
"""
# A configuration trained without Ray, uninterrupted, with one thread as Ray gives a 1-CPU task.
PLAIN = """
import json, sys
from rdvae import train
from rdvae.config import RunConfig
for c in json.loads(sys.argv[1]):
    train.run(RunConfig(**c), store_path=sys.argv[2], progress=False)
"""


def test_the_plan_is_what_the_claims_need_minus_what_is_stored(tmp_path):
    todo, done = sweep.plan("smoke", ["3"], tmp_path)
    assert done == [] and {(c.split, c.arch) for c in todo} == {
        (s, a) for s in ("default", "cv-0.1") for a in ("mlp1", "mlp3")
    }
    first = todo[0]
    (tmp_path / first.run_id).mkdir()  # a folder that is not a complete run is an error, not "stored"
    with pytest.raises(store.StoreError):
        sweep.plan("smoke", ["3"], tmp_path)
    with pytest.raises(ValueError, match="unknown figure '9'"):
        sweep.keys_for_figures(["9"])


def test_estimates_count_examples_not_steps():
    # the benchmark's steps are of batch 128: 1,500 steps of 512 cost what 6,000 of 128 do
    base = RunConfig(split="cv-0.1", arch="mlp3", betas=(1.0, 3.0), seeds=(0,), iterations=6000)
    wide = RunConfig(**{**base.to_json(), "iterations": 1500, "batch_size": 512})
    speeds = {"mlp3": 20.0}
    assert sweep.estimate_hours(base, speeds) == pytest.approx(2 * 6000 / 20 / 3600)
    assert sweep.estimate_hours(wide, speeds) == pytest.approx(sweep.estimate_hours(base, speeds))


def test_the_dry_run_prints_the_plan_and_trains_nothing(tmp_path, capsys):
    assert (
        main(["sweep", "--profile", "long", "--figures", "3", "8", "--dry-run", "--store", str(tmp_path)])
        == 0
    )
    out = capsys.readouterr().out
    assert "4 to train, 0 already stored" in out and "cpu-hours" in out
    assert not any(tmp_path.iterdir())


def _sweep(store_dir: Path, cache: Path, driver: str = DRIVER, configs=CONFIGS, **env) -> subprocess.Popen:
    env = {**os.environ, "RDVAE_CACHE": str(cache), "PYTHONUNBUFFERED": "1", **env}
    return subprocess.Popen(
        [sys.executable, "-c", driver, json.dumps(configs), str(store_dir)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def _members(store_dir: Path) -> dict[str, str]:
    return {p.name: (p / "members.csv").read_text() for p in sorted(store_dir.iterdir()) if p.is_dir()}


def _kill_a_worker_after_a_checkpoint(cache: Path, proc: subprocess.Popen) -> None:
    deadline = time.time() + 540  # Ray's start alone takes minutes on a loaded 2-core machine
    while time.time() < deadline:
        for path in (cache / "checkpoints").glob("*.pt"):
            try:
                iteration = torch.load(path, weights_only=False)["iteration"]
            except Exception:  # noqa: BLE001 - being replaced right now; look again
                continue
            if 40 <= iteration < 100:
                found = subprocess.run(["pgrep", "-f", "ray::_train_task"], capture_output=True, text=True)
                pids = [int(p) for p in found.stdout.split()]
                if pids:
                    os.kill(pids[0], 9)
                    return
        assert proc.poll() is None, proc.stdout.read()
        time.sleep(0.2)
    raise AssertionError("no checkpoint of a running task appeared")


def test_a_killed_worker_is_retried_and_resumes_to_the_same_numbers(tmp_path):
    references = [  # one process per configuration, side by side, as the sweep runs them
        _sweep(tmp_path / "reference", tmp_path / f"reference-cache-{i}", PLAIN, [c], OMP_NUM_THREADS="1")
        for i, c in enumerate(CONFIGS)
    ]
    for reference in references:
        output = reference.communicate(timeout=600)[0]
        assert reference.returncode == 0, output

    proc = _sweep(tmp_path / "store", tmp_path / "cache")
    _kill_a_worker_after_a_checkpoint(tmp_path / "cache", proc)
    output = proc.communicate(timeout=600)[0]
    assert proc.returncode == 0, output  # Ray retried the killed task; it resumed from its checkpoint
    assert output.count("done  ") == 2
    assert _members(tmp_path / "store") == _members(tmp_path / "reference")

    # a re-run finds both stored (and plans nothing: the CLI then never starts Ray)
    configs = [RunConfig(**c) for c in CONFIGS]
    assert all(store.load(c, tmp_path / "store") is not None for c in configs)
    assert not list((tmp_path / "cache" / "checkpoints").glob("*.pt"))  # removed once stored
