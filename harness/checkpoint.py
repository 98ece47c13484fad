"""Per-epoch training checkpoints: nets, optimisers, counters and RNG state, written atomically, read safely."""

import warnings
from dataclasses import dataclass

import torch
from torch import nn

from harness import atomic
from harness.store import RunDir


@dataclass
class TrainState:
    """The objects a checkpoint restores, in the form the trainer holds them (possibly wrapped by Accelerate)."""

    G: nn.Module
    D: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer


def _rng_state() -> dict:
    # The loop draws noise only from torch's generators; data order is a function of (seed, epoch), not RNG state.
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def save(run: RunDir, job_id: str, epoch: int, step: int, state: TrainState, unwrap) -> None:
    atomic.save_torch(
        run.checkpoint_path,
        {
            "job_id": job_id,
            "epoch": epoch,
            "step": step,
            "G": unwrap(state.G).state_dict(),
            "D": unwrap(state.D).state_dict(),
            "opt_g": state.opt_g.state_dict(),
            "opt_d": state.opt_d.state_dict(),
            "rng": _rng_state(),
        },
    )


def load(run: RunDir, job_id: str, state: TrainState, unwrap) -> tuple[int, int]:
    """Restore the last finished epoch; (0, 0) when there is no usable checkpoint."""
    if not run.checkpoint_path.exists():
        return 0, 0
    try:
        ckpt = torch.load(run.checkpoint_path, map_location="cpu", weights_only=True)
    except Exception as e:  # atomic writes make this rare; never trust a damaged file
        warnings.warn(f"{run.checkpoint_path} is unreadable ({type(e).__name__}); training from scratch", stacklevel=2)
        return 0, 0
    if ckpt.get("job_id") != job_id:
        warnings.warn(f"{run.checkpoint_path} belongs to another job; training from scratch", stacklevel=2)
        return 0, 0
    unwrap(state.G).load_state_dict(ckpt["G"])
    unwrap(state.D).load_state_dict(ckpt["D"])
    state.opt_g.load_state_dict(ckpt["opt_g"])
    state.opt_d.load_state_dict(ckpt["opt_d"])
    torch.set_rng_state(ckpt["rng"]["torch"])
    if "cuda" in ckpt["rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(ckpt["rng"]["cuda"])
    return ckpt["epoch"], ckpt["step"]


def load_generator(run: RunDir, G: nn.Module) -> int:
    """Load only G's weights (for re-scoring and sampling); returns the checkpoint's epoch."""
    ckpt = torch.load(run.checkpoint_path, map_location="cpu", weights_only=True)
    G.load_state_dict(ckpt["G"])
    return ckpt["epoch"]
