"""Architectures: exact sizes from SPEC c.2, shapes, and that a stack is M independent models."""

import pytest
import torch

from rdvae.models import ARCHITECTURES, StackedVAE, get_architecture, parameter_count


def test_mlp_parameter_counts_match_the_spec():
    one, three = parameter_count("mlp1"), parameter_count("mlp3")
    assert one["encoder"] == 3072 * 512 + 512 + 512 * 20 + 20 == 1_583_636
    assert one["decoder"] == 10 * 512 + 512 + 512 * 3072 + 3072 == 1_581_568
    assert three["encoder"] - one["encoder"] == 2 * 262_656
    assert three["decoder"] - one["decoder"] == 2 * 262_656


def test_cnn_shapes_follow_the_dcgan_layout():
    counts = parameter_count("cnn1")
    # Conv(3->64) + Linear(64*16*16 -> 20); Linear(10 -> 64*16*16) + ConvT(64->3)
    assert counts["encoder"] == 3 * 64 * 16 + 64 + 16_384 * 20 + 20
    assert counts["decoder"] == 10 * 16_384 + 16_384 + 64 * 3 * 16 + 3


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_shapes(arch):
    model = StackedVAE(arch, [0, 1, 2])
    mu, logvar = model.encode(torch.rand(3, 5, 3, 32, 32))
    assert mu.shape == logvar.shape == (3, 5, 10)
    assert model.decode(mu).shape == (3, 5, 3072)


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_a_stack_is_independent_members(arch):
    stacked = StackedVAE(arch, [3, 5])
    x = torch.rand(2, 4, 3, 32, 32)
    mu, logvar = stacked.encode(x)
    logits = stacked.decode(mu)
    for m, seed in enumerate([3, 5]):
        alone = StackedVAE(arch, [seed])
        for key, value in alone.member_state(0).items():
            torch.testing.assert_close(value, stacked.member_state(m)[key], rtol=0, atol=0)
        mu1, logvar1 = alone.encode(x[m : m + 1])
        torch.testing.assert_close(mu1[0], mu[m], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(alone.decode(mu1)[0], logits[m], rtol=1e-5, atol=1e-4)


def test_member_outputs_do_not_depend_on_other_members():
    model = StackedVAE("cnn3", [0, 1])
    x = torch.rand(2, 4, 3, 32, 32)
    before = model.decode(model.encode(x)[0])[0]
    x[1] = torch.rand(4, 3, 32, 32)  # change member 1's input only
    after = model.decode(model.encode(x)[0])[0]
    torch.testing.assert_close(before, after, rtol=0, atol=0)


def test_unknown_architecture_lists_the_valid_ones():
    with pytest.raises(ValueError, match="mlp1, mlp3, cnn1, cnn3"):
        get_architecture("resnet")
