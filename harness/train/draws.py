"""Where a step's random numbers past the noise come from: DiffAugment's parameters and WGAN-GP's interpolation
weights inside the losses, CutMix's and saturation's on the real batch before them.

A separate job draws them from torch's global generator as it reaches each one (Live()). Seed lanes cannot: vmap
traces the loss once for all K lanes, and each lane must draw from its own generator, in the order a separate job of
its seed draws. So a LaneStep first records the sequence of draws the loss makes (Record: shapes and kinds only, on
one lane's shapes, with a stand-in D), draws that sequence from every lane's generator (for_lanes), and replays each
lane's own numbers inside vmap (Replay). The real batch's augmentations run per lane before vmap, drawing live from
the lane's generator. The sequence depends only on shapes, so it is recorded once per batch shape."""

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Spec:
    """One draw: uniform floats in [0, 1) (kind "rand") or integers in [low, high) ("randint"), of one shape."""

    kind: str
    shape: tuple[int, ...]
    dtype: torch.dtype
    low: int = 0
    high: int = 1


class Draws:
    """A source of random tensors. The objectives and augmentations ask it, never torch directly."""

    def rand(self, shape: tuple[int, ...], device: torch.device, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        raise NotImplementedError

    def randint(self, low: int, high: int, shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
        raise NotImplementedError


class Live(Draws):
    """Draws as they are asked for, from `generator` (None: torch's global one, as a separate job draws)."""

    def __init__(self, generator: torch.Generator | None = None):
        self.generator = generator

    def rand(self, shape, device, dtype=torch.float32):
        return torch.rand(shape, generator=self.generator, device=device, dtype=dtype)

    def randint(self, low, high, shape, device):
        return torch.randint(low, high, shape, generator=self.generator, device=device)


GLOBAL = Live()


class Record(Draws):
    """Notes what is asked for and answers with constants: the sequence, not the numbers, is what it is for."""

    def __init__(self):
        self.specs: list[Spec] = []

    def rand(self, shape, device, dtype=torch.float32):
        self.specs.append(Spec("rand", tuple(shape), dtype))
        return torch.full(shape, 0.5, device=device, dtype=dtype)

    def randint(self, low, high, shape, device):
        self.specs.append(Spec("randint", tuple(shape), torch.int64, low, high))
        return torch.full(shape, low, device=device, dtype=torch.int64)


class Replay(Draws):
    """Answers with given tensors, in order, each checked against what is asked (inside vmap: one lane's slices)."""

    def __init__(self, tensors: list[torch.Tensor]):
        self.tensors, self.next = tensors, 0

    def _take(self, shape, dtype) -> torch.Tensor:
        if self.next >= len(self.tensors):
            raise RuntimeError("the loss drew more than was recorded for it")
        t = self.tensors[self.next]
        if tuple(t.shape) != tuple(shape) or t.dtype != dtype:
            raise RuntimeError(f"draw {self.next}: recorded {tuple(t.shape)} {t.dtype}, asked {tuple(shape)} {dtype}")
        self.next += 1
        return t

    def rand(self, shape, device, dtype=torch.float32):
        return self._take(shape, dtype)

    def randint(self, low, high, shape, device):
        return self._take(shape, torch.int64)


def for_lanes(specs: list[Spec], gens: list[torch.Generator], device: torch.device) -> list[torch.Tensor]:
    """Each recorded draw made from every lane's generator, stacked along a leading lane dim: lane k's numbers are
    the ones a separate job drawing `specs` in order from k's stream would get."""
    out = []
    for spec in specs:
        draws = [Live(g) for g in gens]
        if spec.kind == "rand":
            out.append(torch.stack([d.rand(spec.shape, device, spec.dtype) for d in draws]))
        else:
            out.append(torch.stack([d.randint(spec.low, spec.high, spec.shape, device) for d in draws]))
    return out
