"""The command line and the checks it makes before doing any work."""

import pytest
import torch

from rdvae import cli
from rdvae.device import resolve_device
from rdvae.profiles import get_profile


def test_splits_command_prints_exact_sizes(capsys):
    assert cli.main(["splits"]) == 0
    out = capsys.readouterr().out
    assert "16,384" in out and "147,456" in out and "82,021" in out


def test_unknown_profile_is_rejected_by_the_parser(capsys):
    with pytest.raises(SystemExit):
        cli.main(["book", "--profile", "huge"])
    assert "invalid choice: 'huge'" in capsys.readouterr().err


def test_get_profile_lists_valid_names():
    with pytest.raises(ValueError, match="smoke, cpu, long, paper"):
        get_profile("huge")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA error")
def test_cuda_without_cuda_is_a_clear_error_before_any_chapter_runs(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("RDVAE_ROOT", str(tmp_path))
    assert cli.main(["book", "--profile", "smoke", "--device", "cuda"]) == 1
    err = capsys.readouterr().err
    assert "CUDA is not available" in err and "--device cpu" in err
    assert not (tmp_path / "_executed").exists()


def test_a_job_count_below_one_is_a_clear_error_before_any_chapter_runs(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("RDVAE_ROOT", str(tmp_path))
    assert cli.main(["book", "--profile", "smoke", "--jobs", "0"]) == 1
    assert "--jobs must be at least 1, got 0" in capsys.readouterr().err
    assert not (tmp_path / "_executed").exists()


def test_unknown_device_is_rejected():
    with pytest.raises(ValueError, match="'tpu'"):
        resolve_device("tpu")
    assert resolve_device("cpu") == torch.device("cpu")


def test_param_values_are_parsed_as_yaml():
    args = cli.parser().parse_args(["book", "-p", "betas=[0.1, 1]", "-p", "seed=3"])
    assert dict(args.param) == {"betas": [0.1, 1], "seed": 3}


def test_train_options_reach_the_run_config():
    from rdvae.profiles import get_profile

    args = cli.parser().parse_args(
        [
            "train",
            "--arch",
            "mlp3",
            "--split",
            "cv-0.2",
            "--betas",
            "0.5,2",
            "--seeds",
            "3",
            "--early-stopping",
        ]
    )
    config = get_profile("smoke").training.config(
        args.split, args.arch, betas=args.betas, seeds=args.seeds, early_stopping=args.early_stopping
    )
    assert (config.arch, config.split, config.betas, config.seeds) == ("mlp3", "cv-0.2", (0.5, 2.0), (3,))
    assert config.early_stopping and config.iterations == get_profile("smoke").training.iterations


def test_train_command_runs_and_prints_its_run_id_and_folder(tmp_path, capsys):
    def argv(seeds: str) -> list[str]:
        budget = ["--iterations", "3", "--betas", "1", "--seeds", seeds]
        where = ["--dataset", "digits", "--store", str(tmp_path)]
        return ["train", "--profile", "smoke", "--arch", "mlp1", "--split", "cv-0.1", *budget, *where]

    assert cli.main(argv("0")) == 0
    out = capsys.readouterr().out
    run_id = out.split("run id: ")[1].split()[0]
    assert run_id.startswith("digits-mlp1-cv-0.1-") and (tmp_path / run_id / "members.csv").exists()
    assert f"folder: {tmp_path / run_id}" in out

    # the other seed alone, then both: assembled from the two one-seed runs, not trained again
    assert cli.main(argv("1")) == 0
    capsys.readouterr()
    assert cli.main(argv("0,1")) == 0
    out = capsys.readouterr().out
    assert f"seed shards {run_id}, digits-mlp1-cv-0.1-" in out
    assert len([p for p in tmp_path.iterdir() if p.name.startswith("digits-")]) == 2
