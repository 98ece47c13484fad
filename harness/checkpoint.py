"""Per-epoch training checkpoints: nets, optimisers, schedules, EMA, counters and RNG state; atomic and safe to load."""

import warnings
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

from harness import atomic
from harness.errors import HarnessError
from harness.store import RunDir


@dataclass
class TrainState:
    """What a checkpoint restores, as the trainer holds it (nets and optimisers possibly wrapped by Accelerate)."""

    G: nn.Module
    D: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    sched_g: torch.optim.lr_scheduler.LRScheduler
    sched_d: torch.optim.lr_scheduler.LRScheduler
    ema: AveragedModel | None = None


def rng_state() -> dict:
    """This process's generators. The loop draws noise only from torch's; data order is a function of (seed, epoch)."""
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@dataclass
class Position:
    """Where training stands: `epoch` epochs finished, then `batch` batches of the next one (a stop mid-epoch),
    with that partial epoch's loss sums so its record comes out as if it had not been interrupted."""

    epoch: int = 0
    step: int = 0
    batch: int = 0
    partial: dict = field(default_factory=dict)
    rng: list = field(default_factory=list)  # one state per rank, in rank order


def save(run: RunDir, job_id: str, at: Position, s: TrainState, unwrap) -> None:
    atomic.save_torch(
        run.checkpoint_path,
        {
            "job_id": job_id,
            "epoch": at.epoch,
            "step": at.step,
            "batch": at.batch,
            "partial": at.partial,
            "G": unwrap(s.G).state_dict(),
            "D": unwrap(s.D).state_dict(),
            "opt_g": s.opt_g.state_dict(),
            "opt_d": s.opt_d.state_dict(),
            "sched_g": s.sched_g.state_dict(),
            "sched_d": s.sched_d.state_dict(),
            "ema": s.ema.state_dict() if s.ema is not None else None,
            "rng": at.rng,
        },
    )


def load(run: RunDir, job_id: str, s: TrainState, unwrap) -> Position:
    """Restore nets, optimisers, schedules and EMA from the run's checkpoint; Position() when there is none usable."""
    if not run.checkpoint_path.exists():
        return Position()
    try:
        ckpt = torch.load(run.checkpoint_path, map_location="cpu", weights_only=True)
    except Exception as e:  # atomic writes make this rare; never trust a damaged file
        warnings.warn(f"{run.checkpoint_path} is unreadable ({type(e).__name__}); training from scratch", stacklevel=2)
        return Position()
    if ckpt.get("job_id") != job_id:
        warnings.warn(f"{run.checkpoint_path} belongs to another job; training from scratch", stacklevel=2)
        return Position()
    unwrap(s.G).load_state_dict(ckpt["G"])
    unwrap(s.D).load_state_dict(ckpt["D"])
    for name in ("opt_g", "opt_d", "sched_g", "sched_d"):
        getattr(s, name).load_state_dict(ckpt[name])
    if s.ema is not None and ckpt["ema"] is not None:
        s.ema.load_state_dict(ckpt["ema"])
    return Position(ckpt["epoch"], ckpt["step"], ckpt.get("batch", 0), ckpt.get("partial") or {}, ckpt["rng"])


def save_snapshot(run: RunDir, epoch: int, s: TrainState, unwrap) -> None:
    """G's weights (and EMA) at a scored epoch, so any scored epoch can be re-scored later under another protocol."""
    atomic.save_torch(
        snapshot_path(run, epoch),
        {"epoch": epoch, "G": unwrap(s.G).state_dict(), "ema": s.ema.state_dict() if s.ema is not None else None},
    )


def snapshot_path(run: RunDir, epoch: int):
    return run.snapshots_dir / f"epoch_{epoch:04d}.pt"


def load_generator(run: RunDir, G: nn.Module, use_ema: bool, epoch: int | None = None) -> int:
    """Load G's weights (the EMA copy when asked and present) from the latest checkpoint, or from the snapshot of
    `epoch`; returns the epoch loaded."""
    path = run.checkpoint_path if epoch is None else snapshot_path(run, epoch)
    if not path.exists():
        have = sorted(int(p.stem.split("_")[1]) for p in run.snapshots_dir.glob("epoch_*.pt"))
        what = f"no snapshot of epoch {epoch}" if epoch is not None else "no checkpoint"
        raise HarnessError(f"{run.path}: {what}; snapshots exist for epochs: {have or 'none'}")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if use_ema and ckpt.get("ema") is not None:
        weights = {k.removeprefix("module."): v for k, v in ckpt["ema"].items() if k.startswith("module.")}
        G.load_state_dict(weights)
    else:
        G.load_state_dict(ckpt["G"])
    return ckpt["epoch"]
