"""GPU checks, run on a machine with CUDA (skipped elsewhere): the batched stack on the GPU computes
what the CPU computes, and all members share one stack there."""

import numpy as np
import pytest
import torch

from rdvae.config import RunConfig
from rdvae.train import Trainer

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")

SMALL = dict(split="cv-0.1", iterations=20, train_limit=512, eval_every=10, curve_examples=64)


@pytest.mark.parametrize("arch", ["mlp1", "cnn3"])
def test_gpu_stack_matches_cpu(arch):
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    config = RunConfig(arch=arch, betas=(0.1, 1.0, 3.0), seeds=(0, 1), **SMALL)
    gpu, cpu = Trainer(config, "cuda"), Trainer(config, "cpu", stack_size=6)
    assert len(gpu.groups) == 1 and len(gpu.groups[0]) == 6
    gpu.train(progress=False)
    cpu.train(progress=False)
    a = np.array([(r["rate"], r["distortion"]) for r in gpu.curves])
    b = np.array([(r["rate"], r["distortion"]) for r in cpu.curves])
    np.testing.assert_allclose(a, b, rtol=2e-3, atol=1e-3)
