"""GPU checks, run on a machine with CUDA (skipped elsewhere): one stack of every member on the GPU
computes what the same members compute trained one by one on the GPU (same generators, so the same
minibatches and noise), a checkpoint written on the GPU resumes there, TF32 is recorded, and the
neighbour search ranks on the GPU as on the CPU."""

import numpy as np
import pytest
import torch

from rdvae.config import RunConfig
from rdvae.train import Trainer

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")

SMALL = dict(split="cv-0.1", iterations=20, train_limit=512, eval_every=10, curve_examples=64)


def _curves(trainer):
    return np.array([(r["rate"], r["distortion"]) for r in trainer.curves])


@pytest.mark.parametrize("arch", ["mlp1", "cnn3"])
def test_gpu_stack_matches_the_members_trained_one_by_one(arch):
    config = RunConfig(arch=arch, betas=(0.1, 1.0, 3.0), seeds=(0, 1), **SMALL)
    stacked, looped = Trainer(config, "cuda", tf32=False), Trainer(config, "cuda", stack_size=1, tf32=False)
    assert len(stacked.groups) == 1 and len(stacked.groups[0]) == 6 and len(looped.groups) == 6
    stacked.train(progress=False)
    looped.train(progress=False)
    np.testing.assert_allclose(_curves(stacked), _curves(looped), rtol=2e-3, atol=1e-3)


def test_a_gpu_checkpoint_resumes_on_the_gpu_to_the_same_numbers(tmp_path, monkeypatch):
    monkeypatch.setenv("RDVAE_CACHE", str(tmp_path))
    config = RunConfig(arch="mlp1", betas=(0.1, 1.0), seeds=(0,), **SMALL)
    whole = Trainer(config, "cuda", tf32=False)
    whole.train(progress=False)
    first = Trainer(config, "cuda", tf32=False)
    for _ in range(7):
        first.step()
    first.save_checkpoint()
    resumed = Trainer(config, "cuda", tf32=False)
    assert resumed.load_checkpoint() and resumed.iteration == 7
    assert all(g.device.type == "cuda" for g in resumed.noise_generators)
    resumed.train(progress=False)
    tail = [r for r in whole.curves if r["iteration"] > 7]
    np.testing.assert_allclose(
        [(r["rate"], r["distortion"]) for r in tail],
        [(r["rate"], r["distortion"]) for r in resumed.curves if r["iteration"] > 7],
        rtol=1e-5,
    )


def test_tf32_is_on_by_default_on_the_gpu_and_recorded():
    config = RunConfig(arch="mlp1", betas=(1.0,), seeds=(0,), **SMALL)
    trainer = Trainer(config, "cuda")
    assert trainer.tf32 and trainer.provenance()["tf32"] is True
    before = torch.backends.cuda.matmul.fp32_precision
    with trainer.precision():
        assert torch.backends.cuda.matmul.fp32_precision == "tf32"
    assert torch.backends.cuda.matmul.fp32_precision == before


def test_neighbour_search_on_the_gpu_ranks_in_full_fp32_with_tf32_switched_on():
    """Each test image has two training images at squared distances 1.00 and 1.01 (others ~500): a
    gap the float32 matmul form resolves (largest error 9e-4 on the CPU) and a TF32 product does not
    (inputs rounded to TF32's 10-bit mantissa rank 22 % of them wrong)."""
    from rdvae.data.neighbours import nearest_neighbours

    rng = np.random.default_rng(0)
    test = rng.random((200, 3072), dtype=np.float32)

    def offsets(squared_norm):
        v = rng.standard_normal((200, 3072)).astype(np.float32)
        return v * np.sqrt(squared_norm / (v.astype(np.float64) ** 2).sum(1, keepdims=True)).astype(
            np.float32
        )

    train = np.concatenate(
        [test + offsets(1.0), test + offsets(1.01), rng.random((600, 3072), dtype=np.float32)]
    )
    on_cpu = nearest_neighbours(test, train, test_chunk=64, train_block=256)
    np.testing.assert_array_equal(on_cpu[1], np.arange(200))
    before = torch.backends.cuda.matmul.fp32_precision
    torch.backends.cuda.matmul.fp32_precision = "tf32"
    try:
        on_gpu = nearest_neighbours(test, train, test_chunk=64, train_block=256, device="cuda")
        assert torch.backends.cuda.matmul.fp32_precision == "tf32"  # restored after the search
    finally:
        torch.backends.cuda.matmul.fp32_precision = before
    np.testing.assert_array_equal(on_gpu[1], on_cpu[1])
    np.testing.assert_array_equal(on_gpu[0], on_cpu[0])  # the winners' distances, recomputed on the CPU
