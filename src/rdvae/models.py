"""The VAEs of paper section 4.3 (SPEC c), implemented as stacks of M independent members.

A stack holds the parameters of M models along a leading member dimension and runs them as batched
kernels: ``baddbmm`` for the fully connected layers and grouped convolutions (``groups=M``) for the
convolutional ones.  Member m only ever touches slice m of every parameter, so a member trained in a
stack gets the same numbers (to float tolerance) as the same member trained alone (M = 1).

Architectures (``L`` = 1 or 3 hidden layers in *both* encoder and decoder, SPEC c.2-c.3):

- ``mlpL``: encoder 3072 -> [Linear 512 + ReLU] x L -> Linear 512 -> 20 (mu, log sigma^2 of a 10-d
  Gaussian); decoder 10 -> [Linear 512 + ReLU] x L -> Linear 512 -> 3072 Bernoulli logits.
- ``cnnL``: encoder [Conv2d(., 64, kernel 4, stride 2, padding 1) + ReLU] x L (32 -> 16 -> 8 -> 4),
  flatten, Linear -> 20; decoder Linear 10 -> 64 (32/2^L)^2 + ReLU, reshape,
  [ConvTranspose2d(64, 64, 4, 2, 1) + ReLU] x (L - 1), ConvTranspose2d(64, 3, 4, 2, 1) -> logits.

Assumptions where the paper's appendix is missing (SPEC h): "L-layer" means L hidden layers per
network; the CNN is DCGAN-style with padding 1 and a single linear layer to and from the latent code
(the original may have had more fully connected layers); the encoder outputs log sigma^2 with no
clamping; weights and biases start from U(-1/sqrt(fan_in), 1/sqrt(fan_in)), PyTorch's default.
Prior N(0, I), Bernoulli likelihood on the continuous pixel values (paper footnote 1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import torch
from torch import nn

IMAGE_SHAPE = (3, 32, 32)
IMAGE_SIZE = 3 * 32 * 32


@dataclass(frozen=True)
class Architecture:
    name: str
    kind: str  # "mlp" or "cnn"
    layers: int  # hidden layers in each of encoder and decoder
    width: int  # hidden units (mlp) or channels (cnn)
    latent_dim: int = 10


ARCHITECTURES = {
    "mlp1": Architecture("mlp1", "mlp", 1, 512),
    "mlp3": Architecture("mlp3", "mlp", 3, 512),
    "cnn1": Architecture("cnn1", "cnn", 1, 64),
    "cnn3": Architecture("cnn3", "cnn", 3, 64),
}


def get_architecture(name: str) -> Architecture:
    try:
        return ARCHITECTURES[str(name).lower()]
    except KeyError:
        raise ValueError(f"unknown architecture {name!r}; choose one of {', '.join(ARCHITECTURES)}") from None


def member_generator(seed: int, stream: int, device: torch.device | str = "cpu") -> torch.Generator:
    """An independent random stream for one member: stream 0 = initialisation, 1 = minibatch order,
    2 = reparameterisation noise.  Derived from (seed, stream) with NumPy's SeedSequence."""
    state = int(np.random.SeedSequence([seed, stream]).generate_state(1, dtype=np.uint64)[0] >> 1)
    return torch.Generator(device=device).manual_seed(state)


class StackedLinear(nn.Module):
    """M independent affine maps (M, B, fan_in) -> (M, B, fan_out) in one ``baddbmm``."""

    def __init__(self, members: int, fan_in: int, fan_out: int):
        super().__init__()
        self.fan_in = fan_in
        self.weight = nn.Parameter(torch.empty(members, fan_in, fan_out))
        self.bias = nn.Parameter(torch.empty(members, 1, fan_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


class StackedConv(nn.Module):
    """M independent (transposed) convolutions as one grouped convolution.

    Input (B, M * c_in, H, W) -> output (B, M * c_out, H', W'); member m owns channel block m.
    """

    def __init__(self, members: int, c_in: int, c_out: int, transposed: bool = False):
        super().__init__()
        self.members, self.transposed = members, transposed
        shape = (members * c_in, c_out, 4, 4) if transposed else (members * c_out, c_in, 4, 4)
        self.fan_in = (c_out if transposed else c_in) * 16  # PyTorch's default-init fan-in rule
        self.weight = nn.Parameter(torch.empty(shape))
        self.bias = nn.Parameter(torch.empty(members * c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv = nn.functional.conv_transpose2d if self.transposed else nn.functional.conv2d
        return conv(x, self.weight, self.bias, stride=2, padding=1, groups=self.members)


def _member_slices(layer: nn.Module, m: int) -> list[torch.Tensor]:
    """Views of member m's weight and bias in a stacked layer."""
    if isinstance(layer, StackedLinear):
        return [layer.weight[m], layer.bias[m]]
    rows = layer.weight.shape[0] // layer.members
    out = layer.bias.shape[0] // layer.members
    return [layer.weight[m * rows : (m + 1) * rows], layer.bias[m * out : (m + 1) * out]]


class StackedVAE(nn.Module):
    """M VAEs of one architecture.  ``seeds[m]`` fixes member m's initial parameters."""

    def __init__(
        self, arch: Architecture | str, seeds: Sequence[int], image_shape: tuple[int, int, int] = IMAGE_SHAPE
    ):
        super().__init__()
        self.arch = get_architecture(arch) if isinstance(arch, str) else arch
        self.members = len(seeds)
        self.image_shape = tuple(image_shape)  # (C, 32, 32): 3 channels for colour data, 1 for grey
        self.image_size = int(np.prod(image_shape))
        a, m = self.arch, self.members
        if a.kind == "mlp":
            widths = [self.image_size] + [a.width] * a.layers
            self.encoder = nn.ModuleList(StackedLinear(m, i, o) for i, o in pairwise(widths))
            self.to_latent = StackedLinear(m, widths[-1], 2 * a.latent_dim)
            widths = [a.latent_dim] + [a.width] * a.layers
            self.decoder = nn.ModuleList(StackedLinear(m, i, o) for i, o in pairwise(widths))
            self.from_latent = StackedLinear(m, widths[-1], self.image_size)
        else:
            self.side = 32 // 2**a.layers  # spatial size after the encoder's convolutions
            flat = a.width * self.side**2
            channels = [self.image_shape[0]] + [a.width] * a.layers
            self.encoder = nn.ModuleList(StackedConv(m, i, o) for i, o in pairwise(channels))
            self.to_latent = StackedLinear(m, flat, 2 * a.latent_dim)
            self.from_latent = StackedLinear(m, a.latent_dim, flat)
            channels = [a.width] * a.layers + [self.image_shape[0]]
            self.decoder = nn.ModuleList(StackedConv(m, i, o, transposed=True) for i, o in pairwise(channels))
        self.reset_parameters(seeds)

    def layers_in_order(self) -> list[nn.Module]:
        if self.arch.kind == "mlp":
            return [*self.encoder, self.to_latent, *self.decoder, self.from_latent]
        return [*self.encoder, self.to_latent, self.from_latent, *self.decoder]

    @torch.no_grad()
    def reset_parameters(self, seeds: Sequence[int]) -> None:
        """Member m's parameters from its own generator, drawn on the CPU in a fixed order."""
        for m, seed in enumerate(seeds):
            generator = member_generator(seed, 0)
            for layer in self.layers_in_order():
                bound = 1 / math.sqrt(layer.fan_in)
                for view in _member_slices(layer, m):
                    values = torch.rand(view.shape, generator=generator, dtype=torch.float32)
                    view.copy_((2 * values - 1) * bound)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (M, B, C, 32, 32) -> mu, logvar, each (M, B, latent_dim)."""
        m, b = x.shape[:2]
        if self.arch.kind == "mlp":
            h = x.reshape(m, b, self.image_size)
            for layer in self.encoder:
                h = torch.relu(layer(h))
        else:
            h = x.transpose(0, 1).reshape(
                b, m * self.image_shape[0], 32, 32
            )  # (M, B, C, H, W) -> (B, M*C, H, W)
            for layer in self.encoder:
                h = torch.relu(layer(h))
            h = h.reshape(b, m, -1).transpose(0, 1)  # (B, M*C, h, w) -> (M, B, C*h*w)
        mu, logvar = self.to_latent(h).chunk(2, dim=-1)
        return mu, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z (M, B, latent_dim) -> Bernoulli logits (M, B, C*32*32)."""
        m, b = z.shape[:2]
        if self.arch.kind == "mlp":
            h = z
            for layer in self.decoder:
                h = torch.relu(layer(h))
            return self.from_latent(h)
        h = torch.relu(self.from_latent(z))  # (M, B, C*h*w)
        h = h.transpose(0, 1).reshape(b, m * self.arch.width, self.side, self.side)  # -> (B, M*C, h, w)
        for i, layer in enumerate(self.decoder):
            h = layer(h)
            if i < len(self.decoder) - 1:
                h = torch.relu(h)
        return h.reshape(b, m, self.image_size).transpose(0, 1)  # (B, M*C, 32, 32) -> (M, B, C*32*32)

    @torch.no_grad()
    def load_member_state(self, m: int, state: dict[str, torch.Tensor]) -> None:
        """Write a :meth:`member_state` back into member m's slices."""
        for i, layer in enumerate(self.layers_in_order()):
            for role, view in zip(("weight", "bias"), _member_slices(layer, m), strict=True):
                view.copy_(state[f"{i}.{role}"])

    def member_state(self, m: int) -> dict[str, torch.Tensor]:
        """Member m's parameters (copies), keyed by layer index and role."""
        return {
            f"{i}.{role}": view.detach().clone()
            for i, layer in enumerate(self.layers_in_order())
            for role, view in zip(("weight", "bias"), _member_slices(layer, m), strict=True)
        }


def parameter_count(arch: Architecture | str) -> dict[str, int]:
    """Parameters of one model: encoder (incl. the layer to the latent code), decoder, total."""
    model = StackedVAE(arch, [0])
    layers = model.layers_in_order()
    n_encoder = len(model.encoder) + 1
    count = [sum(p.numel() for p in layer.parameters()) for layer in layers]
    encoder = sum(count[:n_encoder])
    return {"encoder": encoder, "decoder": sum(count) - encoder, "total": sum(count)}
