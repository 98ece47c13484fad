from pathlib import Path

import pytest
import torch
from accelerate import Accelerator

from harness.data import load_dataset
from harness.store.runs import RunDir
from harness.train import batching, checkpoint
from harness.train.batching import EpochShuffle
from harness.train.loop import prepare, train
from tests.helpers import tiny_job


def test_epoch_shuffle_is_a_function_of_seed_and_epoch():
    def order(seed, epoch):
        s = EpochShuffle(10, seed)
        s.set_epoch(epoch)
        return list(s)

    assert order(0, 1) == order(0, 1)
    assert sorted(order(0, 1)) == list(range(10))
    assert order(0, 1) != order(0, 2) and order(0, 1) != order(1, 1)


def test_oversampling_repeats_the_set_and_a_skip_applies_to_its_epoch_only():
    s = EpochShuffle(4, seed=0, length=10)
    s.set_epoch(3)
    full = s.indices().tolist()
    assert len(full) == 10 and sorted(full[:4]) == [0, 1, 2, 3]
    s.skip_in(3, 6)
    assert s.indices().tolist() == full[6:] and len(s) == 4
    s.set_epoch(4)
    assert len(s) == 10


@pytest.fixture(scope="module")
def accelerator():
    return Accelerator(cpu=True)


def test_resident_batches_are_the_data_loaders_batches(accelerator):
    job = tiny_job()
    data = load_dataset(job.data, Path("."))
    _, resident, _ = prepare(job, data, accelerator, resident=True)
    _, loader, _ = prepare(job, data, accelerator, resident=False)
    assert isinstance(resident, batching.ResidentBatches) and not isinstance(loader, batching.ResidentBatches)
    for epoch in (1, 2):
        resident.set_epoch(epoch)
        loader.set_epoch(epoch)
        pairs = list(zip(resident, loader, strict=True))
        assert len(pairs) == 4
        for (xa, ya), (xb, yb) in pairs:
            assert xa.dtype == torch.uint8 and torch.equal(xa, xb) and torch.equal(ya, yb)


def test_training_from_resident_data_ends_exactly_as_from_a_data_loader(tmp_path, accelerator, monkeypatch):
    job = tiny_job(epochs=2)
    data = load_dataset(job.data, Path("."))
    ends = []
    for resident in (True, False):
        monkeypatch.setattr(batching, "fits", lambda data, device, r=resident: r)
        run = RunDir(tmp_path / str(resident))
        train(job, run, accelerator, data)
        ends.append(checkpoint.read(run.checkpoint_path))
    for name in ("G", "D"):
        assert all(torch.equal(ends[0][name][k], ends[1][name][k]) for k in ends[0][name])
