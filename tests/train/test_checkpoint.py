"""Checkpoints carry a checksum; a damaged newest one is set aside and the one before it is used."""

import warnings
from pathlib import Path

import pytest
import torch
from accelerate import Accelerator

from harness.data import load_dataset
from harness.store.runs import RunDir
from harness.train import checkpoint
from harness.train.loop import train
from harness.train.state import build
from tests.helpers import tiny_job


def _damage(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "truncated":
        path.write_bytes(bytes(data[: len(data) // 3]))
    elif how == "bit flip":
        data[len(data) // 2] ^= 0x01  # one bit in the tensors' bytes: torch.load alone would not notice
        path.write_bytes(bytes(data))
    else:
        path.write_bytes(b"")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 2-epoch run: checkpoint.pt is epoch 2, checkpoint.prev.pt epoch 1."""
    job, run = tiny_job(epochs=2), RunDir(tmp_path_factory.mktemp("ckpt") / "job")
    train(job, run, Accelerator(cpu=True), load_dataset(job.data, Path(".")))
    return job, run


def _copy(run: RunDir, to: Path) -> RunDir:
    to.mkdir()
    for path in (run.checkpoint_path, run.previous_checkpoint_path):
        (to / path.name).write_bytes(path.read_bytes())
    return RunDir(to)


def _load(job, run) -> int:
    s = build(job, num_classes=1)
    return checkpoint.load(run, job.job_id, s, lambda m: m).epoch


def test_each_save_keeps_the_one_before(trained):
    job, run = trained
    assert checkpoint.read(run.checkpoint_path)["epoch"] == 2
    assert checkpoint.read(run.previous_checkpoint_path)["epoch"] == 1
    assert run.checkpoint_path.read_bytes().startswith(checkpoint.MAGIC)


@pytest.mark.parametrize("how", ["truncated", "bit flip", "empty"])
def test_a_damaged_checkpoint_is_detected_and_the_previous_one_used(trained, tmp_path, how):
    job, run = trained
    copy = _copy(run, tmp_path / "job")
    _damage(copy.checkpoint_path, how)
    with pytest.raises(checkpoint.Corrupt):
        checkpoint.read(copy.checkpoint_path)
    with pytest.warns(UserWarning, match="set aside as checkpoint.pt.corrupt"):
        assert _load(job, copy) == 1
    assert (tmp_path / "job" / "checkpoint.pt.corrupt").exists() and not copy.checkpoint_path.exists()


def test_a_crash_between_the_two_renames_leaves_the_previous_checkpoint(trained, tmp_path):
    job, run = trained
    copy = _copy(run, tmp_path / "job")
    copy.checkpoint_path.replace(copy.previous_checkpoint_path)  # the newest went to .prev, the new one never landed
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _load(job, copy) == 2


def test_with_both_damaged_training_starts_from_scratch(trained, tmp_path):
    job, run = trained
    copy = _copy(run, tmp_path / "job")
    _damage(copy.checkpoint_path, "bit flip")
    _damage(copy.previous_checkpoint_path, "truncated")
    with pytest.warns(UserWarning):
        assert _load(job, copy) == 0


def test_a_checkpoint_from_before_checksums_still_loads(trained, tmp_path):
    job, run = trained
    legacy = RunDir(tmp_path / "job")
    legacy.path.mkdir()
    torch.save(checkpoint.read(run.checkpoint_path), legacy.checkpoint_path)
    assert _load(job, legacy) == 2


def test_the_generator_for_scoring_comes_from_the_newest_intact_checkpoint(trained, tmp_path):
    job, run = trained
    copy = _copy(run, tmp_path / "job")
    _damage(copy.checkpoint_path, "bit flip")
    G = build(job, num_classes=1).G
    with pytest.warns(UserWarning):
        assert checkpoint.load_generator(copy, G, use_ema=False) == 1
