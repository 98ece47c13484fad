"""Per-epoch training checkpoints: nets, optimisers, schedules, EMA, counters and RNG state. Written atomically with
a CRC-32 and the length of their bytes, one generation kept back; loaded with weights_only (no code runs from a
checkpoint file)."""

import contextlib
import io
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from harness.core import atomic
from harness.core.errors import Damaged, HarnessError
from harness.store.runs import RunDir
from harness.train.state import TrainState

# The header: MAGIC, the payload's CRC-32 and length, a newline, then torch.save's bytes. A CRC, not a cryptographic
# hash: it guards against truncation and flipped bits at a quarter of SHA-256's cost per epoch (safety against
# hostile files is weights_only's job).
MAGIC = b"harness-checkpoint crc32="


class Corrupt(Exception):
    """A checkpoint file whose bytes do not match its checksum, or that torch cannot read."""


def encode(obj: dict) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    payload = buffer.getvalue()
    return MAGIC + f"{zlib.crc32(payload):08x} length={len(payload)}\n".encode() + payload


def read(path: Path) -> dict:
    """A checkpoint or snapshot, verified. Files from before checksums (no header) are read as they are."""
    data = Path(path).read_bytes()
    if data.startswith(MAGIC):
        header, _, payload = data.partition(b"\n")
        if header != MAGIC + f"{zlib.crc32(payload):08x} length={len(payload)}".encode():
            raise Corrupt(f"{path}: checksum mismatch ({len(data)} bytes; truncated or damaged)")
        data = payload
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, or a pickle that asks for more than tensors and plain containers
        raise Corrupt(f"{path}: unreadable ({type(e).__name__})") from e


def write(path: Path, obj: dict, previous: Path | None = None) -> None:
    atomic.write_bytes(path, encode(obj), previous)


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


def generator_state(gen: torch.Generator) -> dict:
    """A seed lane's own generator in rng_state's format, so a separate job can resume the lane's stream."""
    if gen.device.type == "cuda":
        states = torch.cuda.get_rng_state_all()
        states[gen.device.index or 0] = gen.get_state()
        return {"torch": torch.get_rng_state(), "cuda": states}
    return {"torch": gen.get_state()}


def set_generator_state(gen: torch.Generator, state: dict) -> None:
    """As set_rng_state, into a lane's generator: a CPU checkpoint resumed on a GPU keeps the seeded stream."""
    if gen.device.type != "cuda":
        gen.set_state(state["torch"])
    elif "cuda" in state:
        gen.set_state(state["cuda"][gen.device.index or 0])


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
    """The new checkpoint replaces checkpoint.pt; the one it replaces becomes checkpoint.prev.pt."""
    write(
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
        previous=run.previous_checkpoint_path,
    )


def latest(run: RunDir, job_id: str | None = None) -> dict | None:
    """The newest intact checkpoint of this job: checkpoint.pt, else (damaged, or a crash between the two renames
    left none) checkpoint.prev.pt. A damaged file is set aside as *.corrupt so the next save cannot rotate it in."""
    for path, ckpt in _intact(run):
        if job_id is None or ckpt.get("job_id") == job_id:
            return ckpt
        warnings.warn(f"{path} belongs to another job; not used", stacklevel=2)
    return None


def _intact(run: RunDir):
    """(path, contents) of the run's readable checkpoints, newest first."""
    for path in (run.checkpoint_path, run.previous_checkpoint_path):
        try:
            yield path, read(path)
        except FileNotFoundError:  # none yet, or another rank of this job has just set it aside
            continue
        except Corrupt as e:
            warnings.warn(f"{e}; set aside as {path.name}.corrupt, trying an older checkpoint", stacklevel=3)
            with contextlib.suppress(FileNotFoundError):  # every rank finds it damaged; the first moves it
                path.replace(path.with_name(path.name + ".corrupt"))


def load(run: RunDir, job_id: str, s: TrainState, unwrap) -> Position:
    """Restore nets, optimisers, schedules and EMA from the run's newest intact checkpoint; Position() when there
    is none (training starts from scratch)."""
    ckpt = latest(run, job_id)
    if ckpt is None:
        return Position()
    unwrap(s.G).load_state_dict(ckpt["G"])
    unwrap(s.D).load_state_dict(ckpt["D"])
    for name in ("opt_g", "opt_d", "sched_g", "sched_d"):
        getattr(s, name).load_state_dict(ckpt[name])
    if s.ema is not None and ckpt["ema"] is not None:
        s.ema.load_state_dict(ckpt["ema"])
    return Position(ckpt["epoch"], ckpt["step"], ckpt.get("batch", 0), ckpt.get("partial") or {}, ckpt["rng"])


def save_snapshot(run: RunDir, job_id: str, epoch: int, s: TrainState, unwrap) -> None:
    """G's weights (and EMA) at a scored epoch, so any scored epoch can be re-scored later under another protocol."""
    ema = s.ema.state_dict() if s.ema is not None else None
    write(snapshot_path(run, epoch), {"job_id": job_id, "epoch": epoch, "G": unwrap(s.G).state_dict(), "ema": ema})


def snapshot_path(run: RunDir, epoch: int):
    return run.snapshots_dir / f"epoch_{epoch:04d}.pt"


def load_generator(run: RunDir, G: nn.Module, use_ema: bool, epoch: int | None = None) -> int:
    """Load G's weights (the EMA copy when asked and present) from the latest checkpoint, or from the snapshot of
    `epoch`; returns the epoch loaded."""
    path = snapshot_path(run, epoch) if epoch is not None else None
    try:
        path, ckpt = next(_intact(run), (None, None)) if path is None else (path, read(path) if path.exists() else None)
    except Corrupt as e:
        raise HarnessError(f"{e}; re-score another epoch, or retrain the job") from None
    if ckpt is None:
        have = sorted(int(p.stem.split("_")[1]) for p in run.snapshots_dir.glob("epoch_*.pt"))
        what = f"no snapshot of epoch {epoch}" if epoch is not None else "no intact checkpoint"
        raise HarnessError(f"{run.path}: {what}; snapshots exist for epochs: {have or 'none'}")
    owner = ckpt.get("job_id", run.job_id)  # snapshots from before they named their job are trusted
    if run.job_id is not None and owner != run.job_id:
        raise Damaged(path, f"it holds job {owner}'s weights, not this job's", "restore this job's file, or retrain it")
    if use_ema and ckpt.get("ema") is not None:
        weights = {k.removeprefix("module."): v for k, v in ckpt["ema"].items() if k.startswith("module.")}
        G.load_state_dict(weights)
    else:
        G.load_state_dict(ckpt["G"])
    return ckpt["epoch"]
