"""Training batches. The data order is a pure function of (seed, epoch); the batches come either from the dataset held
on the training device as uint8 (no workers, no per-batch copies) or, when it does not fit there, from a DataLoader.
Both give every rank the same slice of the same global batches, so the choice never changes a result."""

import logging
from collections.abc import Iterator

import torch
from accelerate import Accelerator
from torch.utils.data import DataLoader, Dataset, Sampler

from harness.data import ImageSet

log = logging.getLogger("harness")
DEVICE_SHARE = 0.25  # at most this share of the GPU's free memory holds the dataset; the rest is for training


class EpochShuffle(Sampler[int]):
    """A permutation that is a pure function of (seed, epoch), so a resumed job sees the same batches.
    With `length` > n (oversampling) the set is repeated, each repeat freshly shuffled. `skip_in(epoch, k)` drops
    the first k indices of that epoch: a job stopped mid-epoch resumes at the batch it stopped at."""

    def __init__(self, n: int, seed: int, length: int | None = None):
        self.n, self.seed, self.length, self.epoch = n, seed, length or n, 0
        self.skip = (0, 0)  # (epoch, indices)

    def set_epoch(self, epoch: int) -> None:  # Accelerate's loader calls this with its own epoch counter
        self.epoch = epoch

    def skip_in(self, epoch: int, indices: int) -> None:
        self.skip = (epoch, indices)

    def _skipped(self) -> int:
        return self.skip[1] if self.skip[0] == self.epoch else 0

    def indices(self) -> torch.Tensor:
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        repeats = -(-self.length // self.n)
        order = torch.cat([torch.randperm(self.n, generator=gen) for _ in range(repeats)])[: self.length]
        return order[self._skipped() :]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices().tolist())

    def __len__(self) -> int:
        return self.length - self._skipped()


class Images(Dataset):
    def __init__(self, data: ImageSet):
        self.images, self.labels = data.images, data.labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[i], self.labels[i]


class ResidentBatches:
    """The dataset on the training device as uint8; each batch is an index_select there. On rank r of W, the r-th
    slice of every global batch, as Accelerate's split_batches would hand it out."""

    def __init__(self, data: ImageSet, sampler: EpochShuffle, batch_size: int, accelerator: Accelerator):
        self.images = data.images.to(accelerator.device)
        self.labels = data.labels.to(accelerator.device)
        self.sampler, self.batch_size = sampler, batch_size
        per_rank = batch_size // accelerator.num_processes
        self.slice = slice(accelerator.process_index * per_rank, (accelerator.process_index + 1) * per_rank)

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.sampler) // self.batch_size  # the last partial batch is dropped

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = self.sampler.indices().to(self.images.device)
        for k in range(len(self)):
            idx = order[k * self.batch_size : (k + 1) * self.batch_size][self.slice]
            yield self.images[idx], self.labels[idx]


def fits(data: ImageSet, device: torch.device) -> bool:
    """Whether the dataset can live on the device: always on a CPU (it is in memory already), on a GPU when it takes
    at most DEVICE_SHARE of the free memory (CIFAR-10 at 32 px is 150 MB)."""
    if device.type != "cuda":
        return True
    free, _ = torch.cuda.mem_get_info(device)
    return data.images.numel() <= DEVICE_SHARE * free


def batches(data: ImageSet, sampler: EpochShuffle, batch_size: int, accelerator: Accelerator, resident: bool):
    """Resident batches, or a DataLoader prepared by Accelerate (the fallback for datasets too large for the GPU)."""
    if resident:
        return ResidentBatches(data, sampler, batch_size, accelerator)
    log.info(f"data: {data.images.numel() / 1e6:.0f} MB do not fit on {accelerator.device}; using a DataLoader")
    # Its own generator: a loader draws a base seed from the global RNG per epoch, which would shift a resumed
    # mid-epoch run's noise by one draw.
    loader = DataLoader(Images(data), batch_size, sampler=sampler, drop_last=True, generator=torch.Generator())
    return accelerator.prepare(loader)
