"""Pieces shared by the architectures: optional spectral norm, SAGAN's self-attention block, block counting."""

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import _SpectralNorm

Layer = nn.Conv2d | nn.ConvTranspose2d | nn.Linear | nn.Embedding


class SpectralNorm(_SpectralNorm):
    """torch's spectral-norm parametrisation (torch.nn.utils.parametrizations.spectral_norm), whose power iteration
    writes u and v with copy_ instead of `out=`: the same numbers and state-dict keys, and vmap can batch it (torch
    has no batching rule for out= ops), so spectral-norm nets train as seed-batched lanes (harness/train/lanes.py)."""

    @torch.no_grad()
    def _power_method(self, weight_mat: torch.Tensor, n_power_iterations: int) -> None:
        for _ in range(n_power_iterations):
            self._u.copy_(F.normalize(torch.mv(weight_mat, self._v), dim=0, eps=self.eps))
            self._v.copy_(F.normalize(torch.mv(weight_mat.H, self._u), dim=0, eps=self.eps))


def sn(module: Layer, on: bool) -> Layer:
    """`module` with spectral normalisation (Miyato et al. 2018) when `on`: its weight divided by its top singular
    value, estimated by one power iteration per training forward pass."""
    if on:
        dim = 1 if isinstance(module, nn.ConvTranspose2d) else 0  # the output dim, as torch's spectral_norm picks
        parametrize.register_parametrization(module, "weight", SpectralNorm(module.weight, 1, dim, 1e-12))
    return module


def sn_all(net: nn.Module, on: bool) -> nn.Module:
    """`net` with `sn` on every conv, linear and embedding layer. Call it after initialising the weights: a wrapped
    layer's `weight` is computed from the stored original, so writing into it later changes nothing."""
    if on:
        for layer in [m for m in net.modules() if isinstance(m, Layer)]:  # a list: wrapping adds modules
            sn(layer, True)
    return net


def n_blocks(resolution: int) -> int:
    """Stride-2 blocks between a 4x4 map and the image, counting the last one: 3 at 32px, 4 at 64px."""
    return int(math.log2(resolution)) - 2


def dcgan_upsampling(width: int, n: int, channels: int = 3) -> list[nn.Module]:
    """DCGAN's G after its 4x4 stem: n - 1 stride-2 transposed convs with BN + ReLU (halving the channels each time),
    then one to the image with tanh."""
    layers: list[nn.Module] = []
    for _ in range(n - 1):
        # state size doubles spatially, halves in channels: ... -> ngf x (resolution/2) x (resolution/2)
        layers += [
            nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(width // 2),
            nn.ReLU(True),
        ]
        width //= 2
    # state size. channels x resolution x resolution
    return layers + [nn.ConvTranspose2d(width, channels, 4, 2, 1, bias=False), nn.Tanh()]


class SelfAttention(nn.Module):
    """Zhang et al. 2019 (SAGAN): every position attends to every other, out = gamma * attention + x."""

    def __init__(self, channels: int):
        super().__init__()
        inner = max(1, channels // 8)  # query and key only rank positions: C/8 channels are enough
        self.query = nn.Conv2d(channels, inner, 1)
        self.key = nn.Conv2d(channels, inner, 1)
        self.value = nn.Conv2d(channels, channels, 1)
        # gamma starts at 0 so the block begins as the identity and the net learns local structure first.
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        q, k, v = self.query(x).flatten(2), self.key(x).flatten(2), self.value(x).flatten(2)
        # attention. N x (h*w) x (h*w): row i weighs the positions that position i reads from
        attention = torch.softmax(q.transpose(1, 2) @ k, dim=-1)
        out = (v @ attention.transpose(1, 2)).view(n, c, h, w)
        return self.gamma * out + x
