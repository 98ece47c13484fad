"""Numeric precision of a training step (the suite key `precision`, per job) and of the extractor (a protocol's)."""

import contextlib

import torch

# fp32: IEEE float32 throughout, TF32 off (PyTorch otherwise allows it in cuDNN convolutions).
# tf32 (default): TF32 tensor cores for convolutions and matmuls on Ampere and newer GPUs; no effect on CPUs.
# bf16: forward passes under bfloat16 autocast; weights, gradients and optimiser state stay float32.
PRECISIONS = ("fp32", "tf32", "bf16")
DEFAULT = "tf32"


@contextlib.contextmanager
def flags(precision: str):
    """TF32 on or off for convolutions and matmuls inside the block; the previous setting is restored after.
    Scoring always runs under flags("fp32"), so a job's training precision never changes its FID or the shared
    reference features."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    tf32 = precision != "fp32"
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = tf32
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def current() -> tuple[bool, bool, bool]:
    """The settings that choose a GPU's arithmetic now (TF32 for matmuls and for cuDNN convolutions, cuDNN's
    autotuner), for `restored`."""
    return torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark


def _set(settings: tuple[bool, bool, bool]) -> None:
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark = settings


@contextlib.contextmanager
def restored(settings: tuple[bool, bool, bool], device: torch.device):
    """The settings `current()` once returned, inside the block, and no autocast: work that must run as it did
    outside an enclosing flags()/autocast() block (a generator's samples made while the extractor scores them)."""
    saved = current()
    _set(settings)
    try:
        with torch.autocast(device.type, enabled=False):
            yield
    finally:
        _set(saved)


def autocast(precision: str, device: torch.device, cache: bool = True):
    """bf16 autocast (or nothing). `cache=False` inside a CUDA graph capture, as PyTorch requires: the weight casts
    must be part of the captured work, not tensors cached from the capture."""
    if precision != "bf16":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16, cache_enabled=cache)
