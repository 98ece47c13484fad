"""GAN objectives, kept apart from the networks so the trainer never asks which architecture it trains."""

from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn

from harness.registry import Registry

Stats = dict[str, float]


class Objective(Protocol):
    def d_loss(self, D: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, Stats]: ...

    def g_loss(self, D: nn.Module, fake: torch.Tensor) -> tuple[torch.Tensor, Stats]: ...


OBJECTIVES: Registry[type[Objective]] = Registry("objective")


@OBJECTIVES.register("bce")
class NonSaturatingBCE:
    """Goodfellow et al.'s GAN loss with the non-saturating G loss, as DCGAN trains it (D outputs logits)."""

    def d_loss(self, D, real, fake):
        real_logits, fake_logits = D(real), D(fake.detach())
        loss = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits)) + (
            F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
        )
        # D(x) and D(G(z)) as probabilities: the two numbers pytorch/examples prints to watch a DCGAN train.
        return loss, {
            "d_real": torch.sigmoid(real_logits).mean().item(),
            "d_fake": torch.sigmoid(fake_logits).mean().item(),
        }

    def g_loss(self, D, fake):
        logits = D(fake)
        return F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits)), {}
