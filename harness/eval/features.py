"""The extractor's features of uint8 images in one loop on the scoring device: the fast exact path.

torch-fidelity's own loop (kept as the plain path, evaluate.score(plain=True)) feeds a DataLoader that collates
images one at a time, copies each batch to the GPU, and each batch's features back to the CPU, which waits for the
GPU every batch; and generated samples reach it only after a round trip to the CPU. Here images are made or copied
straight to the device, the extractor runs channels-last under cuDNN's autotuner in large batches, and the features
stay on the device: the host never waits for the GPU inside the loop, so it queues the generator's next batch while
the extractor still runs the last one. None of it changes the arithmetic beyond float32 rounding (features are
per image; layout and the autotuner's choice of algorithm change only the order of sums), so the numbers equal the
plain path's to float32 rounding (tests/eval/test_features.py).
"""

import contextlib
from collections.abc import Iterator

import torch
from torch.utils.data import Dataset

from harness.core import precision
from harness.core.images import to_uint8

# A batch of images for the extractor, per device. CUDA: large enough that the GPU never idles between launches
# (Inception at 299 px, batch 500 in float32 takes ~8 GB). CPU: batches of 16 keep activations in cache (measured on
# 2 cores: 6.4 img/s at batch 64 contiguous, 15-19 img/s at 8-32 channels-last).
EXTRACTOR_BATCH = {"cuda": 500, "cpu": 16}
GENERATOR_BATCH = 256  # G's batch while scoring (the samples do not depend on it; kept as it always was)


class Uint8Images(Dataset):
    """Images already made: uint8 tensors 3 x H x W (torch-fidelity's Dataset input, for the plain path)."""

    def __init__(self, images: torch.Tensor):
        assert images.dtype == torch.uint8 and images.ndim == 4
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.images[i]

    def batches(self, device: torch.device) -> Iterator[torch.Tensor]:
        for start in range(0, len(self.images), GENERATOR_BATCH):
            yield self.images[start : start + GENERATOR_BATCH].to(device, non_blocking=True)

    def materialise(self, device: torch.device) -> "Uint8Images":
        return self


class Generated:
    """Samples of G made on the scoring device as they are scored: noise and labels for all n drawn from their own
    seeded CPU generator, so the samples are the same whatever the device, the batch, or the share made here (a range
    of sample indices, when ranks split the work). num_classes > 0 asks a conditional G for class-balanced samples."""

    def __init__(self, G, n: int, z_dim: int, seed: int, num_classes: int = 0, share: range | None = None,
                 batch_size: int = GENERATOR_BATCH):  # fmt: skip
        gen = torch.Generator(device="cpu").manual_seed(seed)
        self.G, self.labels = G, balanced_labels(n, num_classes, gen) if num_classes else None
        self.z = torch.randn(n, z_dim, generator=gen)
        self.share = share if share is not None else range(n)
        self.batch_size = batch_size
        # G runs under the TF32 settings of whoever asked for the samples, never the extractor's precision.flags or
        # autocast it is interleaved with: the samples are those generate() always made.
        self.settings = precision.current()

    def __len__(self) -> int:
        return len(self.share)

    @torch.no_grad()
    def batches(self, device: torch.device) -> Iterator[torch.Tensor]:
        """uint8 batches on `device`, G in eval mode meanwhile (its train/eval mode restored after)."""
        was_training = self.G.training
        self.G.eval()
        # The share's noise and labels copied once: a copy from pageable memory per batch would make the host wait
        # for the GPU's queued work every batch.
        first, last = self.share.start, self.share.stop
        z = self.z[first:last].to(device)
        labels = self.labels[first:last].to(device) if self.labels is not None else None
        try:
            for start in range(0, last - first, self.batch_size):
                stop = min(start + self.batch_size, last - first)
                y = labels[start:stop] if labels is not None else None
                with precision.restored(self.settings, device):
                    batch = to_uint8(self.G(z[start:stop], y).float())
                yield batch
        finally:
            self.G.train(was_training)

    def materialise(self, device: torch.device) -> Uint8Images:
        """All the samples, made on `device`, on the CPU."""
        made = [b.cpu() for b in self.batches(device)]
        return Uint8Images(torch.cat(made) if made else torch.empty(0, 3, 0, 0, dtype=torch.uint8))


def balanced_labels(n: int, num_classes: int, gen: torch.Generator) -> torch.Tensor:
    """n labels, each class n/K times (±1), in random order: conditional G are scored on class-balanced samples."""
    return (torch.arange(n) % num_classes)[torch.randperm(n, generator=gen)]


def rebatch(chunks: Iterator[torch.Tensor], size: int) -> Iterator[torch.Tensor]:
    """The chunks' images in batches of `size` (the last may be smaller), in order."""
    held, count = [], 0
    for chunk in chunks:
        while len(chunk):
            take = chunk[: size - count]
            held.append(take)
            count += len(take)
            chunk = chunk[len(take) :]
            if count == size:
                yield held[0] if len(held) == 1 else torch.cat(held)
                held, count = [], 0
    if held:
        yield torch.cat(held)


def channels_last(extractor: torch.nn.Module) -> torch.nn.Module:
    """The extractor's weights in NHWC: cuDNN's and oneDNN's fastest convolutions read that layout (on 2 CPU cores
    2-3x faster than NCHW; features equal to ~2e-6 relative)."""
    return extractor.to(memory_format=torch.channels_last)


@contextlib.contextmanager
def autotuned(device: torch.device):
    """cuDNN's autotuner on for the block (it times each convolution's algorithms once per shape and keeps the
    fastest; TF32 stays as the caller set it, off for exact scores), the previous setting restored after."""
    saved = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = device.type == "cuda" or saved
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = saved


@torch.no_grad()
def extract(images, extractor, device: torch.device, batch_size: int | None = None) -> dict[str, torch.Tensor]:
    """{layer: features (N x width, float32: torch-fidelity's extractor casts its outputs), on `device`} of `images`
    (Uint8Images or Generated), in batches of `batch_size` (default: EXTRACTOR_BATCH for the device)."""
    size = batch_size or EXTRACTOR_BATCH.get(device.type, EXTRACTOR_BATCH["cpu"])
    layers = extractor.get_requested_features_list()
    out: dict[str, list[torch.Tensor]] = {layer: [] for layer in layers}
    with autotuned(device):
        for batch in rebatch(images.batches(device), size):
            for layer, features in zip(layers, extractor(batch), strict=True):
                out[layer].append(features)
    return {layer: torch.cat(parts) for layer, parts in out.items()}
