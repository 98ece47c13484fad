"""The one training loop: build G, D and their optimisers, prepare them with Accelerate, train epoch by epoch."""

import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import torch
from accelerate import Accelerator
from torch.utils.data import DataLoader, Dataset, Sampler

from harness import atomic, checkpoint
from harness.checkpoint import TrainState
from harness.data import ImageSet
from harness.images import grid, png_bytes, to_uint8
from harness.models import ARCHS
from harness.objectives import OBJECTIVES
from harness.specs import JobSpec
from harness.store import RunDir

N_FIXED = 64  # images in each epoch's sample grid (8 x 8)
Scorer = Callable[[torch.nn.Module, int], dict[str, Any]]  # (G, epoch) -> scores


class Progress(Protocol):
    def epoch_started(self, epoch: int, steps: int) -> None: ...
    def step(self) -> None: ...
    def epoch_ended(self, record: dict[str, Any]) -> None: ...


class NoProgress:
    def epoch_started(self, epoch, steps):
        pass

    def step(self):
        pass

    def epoch_ended(self, record):
        pass


class Images(Dataset):
    def __init__(self, images: torch.Tensor):
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.images[i]


class EpochShuffle(Sampler[int]):
    """A permutation that is a pure function of (seed, epoch), so a resumed job sees the same batches."""

    def __init__(self, n: int, seed: int):
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return iter(torch.randperm(self.n, generator=gen).tolist())

    def __len__(self) -> int:
        return self.n


def scores_due(job: JobSpec, epoch: int) -> bool:
    every = job.eval.every
    return bool(job.eval.metrics) and (epoch == job.train.epochs or (every > 0 and epoch % every == 0))


def build(job: JobSpec) -> TrainState:
    arch, t = ARCHS.get(job.model.arch), job.train
    G = arch.build_g(job.model, job.data.resolution)
    D = arch.build_d(job.model, job.data.resolution)
    betas = (t.beta1, t.beta2)
    return TrainState(
        G, D, torch.optim.Adam(G.parameters(), t.lr_g, betas), torch.optim.Adam(D.parameters(), t.lr_d, betas)
    )


def train(
    job: JobSpec,
    run: RunDir,
    accelerator: Accelerator,
    data: ImageSet,
    scorer: Scorer | None = None,
    progress: Progress | None = None,
) -> int:
    """Train `job` to its last epoch, resuming from the run's checkpoint; returns the epoch it started from."""
    progress = progress or NoProgress()
    torch.manual_seed(job.train.seed)
    objective = OBJECTIVES.get(ARCHS.get(job.model.arch).objective)()
    loader = DataLoader(
        Images(data.images),
        batch_size=job.train.batch_size,
        sampler=EpochShuffle(len(data), job.train.seed),
        drop_last=True,
    )
    s = build(job)
    s.G, s.D, s.opt_g, s.opt_d, loader = accelerator.prepare(s.G, s.D, s.opt_g, s.opt_d, loader)
    start, step = checkpoint.load(run, job.job_id, s, accelerator.unwrap_model)
    run.keep_metrics_through(start)
    device, z_dim = accelerator.device, job.model.z_dim
    fixed_z = torch.randn(N_FIXED, z_dim, generator=torch.Generator().manual_seed(job.train.seed)).to(device)

    for epoch in range(start + 1, job.train.epochs + 1):
        loader.set_epoch(epoch)
        progress.epoch_started(epoch, len(loader))
        sums, n, t0 = defaultdict(float), 0, time.perf_counter()
        for batch in loader:
            real = batch.float() / 127.5 - 1  # uint8 -> [-1, 1], the range of G's tanh
            fake = s.G(torch.randn(real.size(0), z_dim, device=device))
            d_loss, d_stats = objective.d_loss(s.D, real, fake)
            s.opt_d.zero_grad(set_to_none=True)
            accelerator.backward(d_loss)
            s.opt_d.step()
            g_loss, g_stats = objective.g_loss(s.D, fake)
            s.opt_g.zero_grad(set_to_none=True)
            accelerator.backward(g_loss)
            s.opt_g.step()
            for k, v in {"d_loss": d_loss.item(), "g_loss": g_loss.item(), **d_stats, **g_stats}.items():
                sums[k] += v
            n, step = n + 1, step + 1
            progress.step()
        seconds = time.perf_counter() - t0
        record = {"epoch": epoch, "step": step, "seconds": seconds, "images_per_s": n * real.size(0) / seconds}
        record.update({k: v / n for k, v in sums.items()})
        G = accelerator.unwrap_model(s.G)
        if accelerator.is_main_process:
            save_grid(G, fixed_z, run, epoch)
        if scorer and scores_due(job, epoch):
            record.update(scorer(G, epoch))
        if accelerator.is_main_process:
            run.append_metrics(record)
            checkpoint.save(run, job.job_id, epoch, step, s, accelerator.unwrap_model)
        progress.epoch_ended(record)
    return start


@torch.no_grad()
def save_grid(G: torch.nn.Module, z: torch.Tensor, run: RunDir, epoch: int) -> None:
    was_training = G.training
    G.eval()
    images = to_uint8(G(z).float()).cpu()
    G.train(was_training)
    atomic.write_bytes(run.samples_dir / f"epoch_{epoch:04d}.png", png_bytes(grid(images)))
