"""What one job needs to run as N data-parallel ranks: the Accelerator, per-rank seeds, splitting work over ranks and
gathering it back, and a stop request every rank honours at the same step."""

import os
import time
from datetime import timedelta
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import DataLoaderConfiguration, InitProcessGroupKwargs, gather_object

from harness.core.errors import ConfigError

# Rank 0 alone extracts reference features the first time (minutes on a CPU) while the others wait at a collective.
COLLECTIVE_TIMEOUT = timedelta(hours=2)


def check_device(device: str, choices: tuple[str, ...] = ("auto", "cpu", "cuda"), here: bool = True) -> None:
    """A --device value, before anything runs; `here`: it must be usable on this machine (not so for jobs submitted
    from a login node, which run on the cluster's nodes)."""
    if device not in choices:
        raise ConfigError(f"--device {device!r}: valid: {', '.join(choices)}")
    if here and device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA device is visible; use --device cpu")


def make_accelerator(device: str = "auto") -> Accelerator:
    """One process of a job: CPU or one GPU, or one rank of `accelerate launch` (gloo on CPUs, NCCL on GPUs).
    Batches are split across ranks, so a job's batch_size is its global batch whatever its number of processes."""
    check_device(device)
    return Accelerator(
        cpu=device == "cpu" or not torch.cuda.is_available(),  # without cpu=True, CPU ranks would not form a group
        dataloader_config=DataLoaderConfiguration(split_batches=True),
        kwargs_handlers=[InitProcessGroupKwargs(timeout=COLLECTIVE_TIMEOUT)],
    )


def launched_world_size() -> int:
    """The number of ranks when this process was started by accelerate launch / torchrun, else 1."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank_seed(seed: int, rank: int) -> int:
    """Rank 0 keeps the job's seed (a 1-process job is unchanged); other ranks draw different noise."""
    return seed if rank == 0 else seed * 1_000_003 + rank


def lane_generator(seed: int, device: torch.device) -> torch.Generator:
    """A seed lane's noise: the stream a separate one-process job of this seed draws from torch's global generator."""
    return torch.Generator(device).manual_seed(rank_seed(seed, 0))


def part(n: int, rank: int, world: int) -> range:
    """This rank's contiguous share of n items, in rank order (sizes differ by at most one)."""
    return range(n * rank // world, n * (rank + 1) // world)


def gather_parts(accelerator: Accelerator, x: torch.Tensor, n: int) -> torch.Tensor:
    """Concatenate every rank's share (see `part`) of n items, in rank order, on every rank."""
    world = accelerator.num_processes
    if world == 1:
        return x
    longest = -(-n // world)
    padded = torch.zeros((longest, *x.shape[1:]), dtype=x.dtype, device=accelerator.device)
    padded[: len(x)] = x.to(accelerator.device)
    everything = accelerator.gather(padded).cpu()
    return torch.cat([everything[r * longest : r * longest + len(part(n, r, world))] for r in range(world)])


def sync_buffers(accelerator: Accelerator, s) -> None:
    """Give every rank rank 0's buffers (batch-norm running statistics, EMA counters) of G, D and the EMA copy.
    Each rank updates them from its own slice of the batch; rank 0's are the ones checkpointed, so after this a
    resumed run continues from exactly what every rank had, and all ranks sample and score the same generator."""
    if accelerator.num_processes == 1:
        return
    modules = [accelerator.unwrap_model(s.G), accelerator.unwrap_model(s.D)] + ([s.ema] if s.ema is not None else [])
    for module in modules:
        for buffer in module.buffers():
            torch.distributed.broadcast(buffer, src=0)


def first_reason(accelerator: Accelerator, reason: str) -> str:
    """A reason any rank gives (e.g. why its losses diverged), agreed by all ranks at this step so they all stop
    together; one all-reduce of a flag per call with several ranks, nothing with one."""
    if accelerator.num_processes == 1:
        return reason
    flag = torch.tensor([1.0 if reason else 0.0], device=accelerator.device)
    torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
    if not flag.item():
        return ""
    return next(r for r in gather_object([reason]) if r)


class StopRequest:
    """Set by a signal (SLURM's USR1 before the time limit, TERM on preemption, Ctrl-C) or by a STOP file that a
    launcher writes for ranks it cannot signal. The trainer checkpoints and stops at the next step boundary."""

    SYNC_EVERY = 10  # steps between all-reduces of the flag when several ranks must agree on the step
    POLL_SECONDS = 1.0  # between looks at the STOP file: a stat per step would cost on a network file system

    def __init__(self, *paths: Path):
        """`paths`: the STOP files to watch (a group of seed lanes watches each of its jobs'); none: signals only."""
        self.flag, self.paths, self.polled = False, paths, -float("inf")

    def set(self, *_signal_args) -> None:
        self.flag = True

    def watch(self, path: Path) -> None:
        """Also stop when `path` appears: a job's STOP file, once this process holds the job."""
        if path not in self.paths:
            self.paths = (*self.paths, path)

    def local(self) -> bool:
        if not self.flag and self.paths and time.monotonic() - self.polled >= self.POLL_SECONDS:
            self.polled = time.monotonic()
            self.flag = any(path.exists() for path in self.paths)
        return self.flag

    def due(self, accelerator: Accelerator, step: int, sync: bool = False) -> bool:
        """Whether to stop after this step; with several ranks, all reach the same answer at the same step (they
        compare notes every SYNC_EVERY steps, or now when `sync`)."""
        if accelerator.num_processes == 1:
            return self.local()
        if step % self.SYNC_EVERY and not sync:
            return False
        if self.local():
            accelerator.set_trigger()
        return accelerator.check_trigger()
