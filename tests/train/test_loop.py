from pathlib import Path

import pytest
import torch
from accelerate import Accelerator

from harness.data import load_dataset
from harness.store.runs import RunDir
from harness.train import checkpoint
from harness.train.loop import NoProgress, divergence, train
from tests.helpers import StopAt, tiny_job


@pytest.fixture(scope="module")
def accelerator():
    return Accelerator(cpu=True)


def _train(job, run, accelerator, progress=None):
    return train(job, run, accelerator, load_dataset(job.data, Path(".")), progress=progress)


def test_a_cpu_epoch_writes_records_samples_and_a_checkpoint(tmp_path, accelerator):
    job, run = tiny_job(epochs=2), RunDir(tmp_path / "job")
    assert _train(job, run, accelerator) == 0
    records = run.metrics()
    assert [r["epoch"] for r in records] == [1, 2]
    assert [r["step"] for r in records] == [4, 8]  # 64 images / batch 16, drop_last
    for r in records:
        assert all(torch.isfinite(torch.tensor(r[k])) for k in ("d_loss", "g_loss", "d_real", "d_fake"))
        assert r["images_per_s"] > 0 and r["seconds"] > 0
    assert sorted(p.name for p in run.samples_dir.iterdir()) == ["epoch_0001.png", "epoch_0002.png"]
    ckpt = checkpoint.read(run.checkpoint_path)
    assert ckpt["epoch"] == 2 and ckpt["step"] == 8 and ckpt["job_id"] == job.job_id


class StopAfter(NoProgress):
    """Progress that interrupts training once `epoch` is checkpointed, like a kill between epochs."""

    def __init__(self, epoch):
        self.epoch = epoch

    def epoch_ended(self, record):
        if record["epoch"] == self.epoch:
            raise KeyboardInterrupt


def test_resume_continues_the_epoch_counter_and_matches_an_uninterrupted_run(tmp_path, accelerator):
    job = tiny_job(epochs=3)
    straight = RunDir(tmp_path / "straight")
    _train(job, straight, accelerator)

    resumed = RunDir(tmp_path / "resumed")
    with pytest.raises(KeyboardInterrupt):
        _train(job, resumed, accelerator, progress=StopAfter(1))
    assert [r["epoch"] for r in resumed.metrics()] == [1]
    assert _train(job, resumed, accelerator) == 1  # started from the epoch-1 checkpoint
    assert [r["epoch"] for r in resumed.metrics()] == [1, 2, 3]
    assert [r["step"] for r in resumed.metrics()] == [4, 8, 12]

    # Same data order and restored RNG state: the resumed run ends where the straight one does.
    a = checkpoint.read(straight.checkpoint_path)
    b = checkpoint.read(resumed.checkpoint_path)
    for name in ("G", "D"):
        for key in a[name]:
            assert torch.equal(a[name][key], b[name][key]), f"{name}.{key} differs after resume"
    assert [r["d_loss"] for r in straight.metrics()] == [r["d_loss"] for r in resumed.metrics()]


@pytest.mark.parametrize("batches", [2, 4], ids=["mid-epoch", "end-of-epoch"])
def test_a_stop_request_checkpoints_and_the_resumed_run_matches_an_uninterrupted_one(tmp_path, accelerator, batches):
    from harness.train.distributed import StopRequest
    from harness.train.loop import Interrupted

    job = _with(tiny_job(epochs=3), "train", ema=0.9)
    straight = RunDir(tmp_path / "straight")
    _train(job, straight, accelerator)

    resumed, stop = RunDir(tmp_path / "resumed"), StopRequest()
    with pytest.raises(Interrupted) as stopped:
        train(
            job, resumed, accelerator, load_dataset(job.data, Path(".")), progress=StopAt(stop, 2, batches), stop=stop
        )
    ckpt = checkpoint.read(resumed.checkpoint_path)
    if batches < 4:  # 4 batches per epoch: a stop in the middle keeps the partial epoch
        assert (stopped.value.epoch, stopped.value.batch) == (2, batches)
        assert (ckpt["epoch"], ckpt["batch"], ckpt["step"]) == (1, batches, 4 + batches)
    else:  # the last batch: the epoch is finished and recorded first
        assert (stopped.value.epoch, stopped.value.batch) == (3, 0)
        assert (ckpt["epoch"], ckpt["batch"]) == (2, 0)
    assert _train(job, resumed, accelerator) == ckpt["epoch"]

    a, b = straight.metrics(), resumed.metrics()
    assert [r["epoch"] for r in b] == [1, 2, 3] and [r["step"] for r in b] == [4, 8, 12]
    for key in ("d_loss", "g_loss", "d_real", "d_fake"):
        assert [r[key] for r in a] == pytest.approx([r[key] for r in b], rel=1e-12, abs=0), key
    final_a = checkpoint.read(straight.checkpoint_path)
    final_b = checkpoint.read(resumed.checkpoint_path)
    for name in ("G", "D", "ema"):
        for key in final_a[name]:
            assert torch.equal(final_a[name][key], final_b[name][key]), f"{name}.{key} differs after resume"


def test_a_stop_file_is_a_stop_request(tmp_path, accelerator):
    from harness.train.distributed import StopRequest
    from harness.train.loop import Interrupted

    job, run = tiny_job(epochs=2), RunDir(tmp_path / "job")
    run.path.mkdir(parents=True)
    run.stop_path.touch()
    with pytest.raises(Interrupted):
        train(job, run, accelerator, load_dataset(job.data, Path(".")), stop=StopRequest(run.stop_path))
    assert checkpoint.read(run.checkpoint_path)["batch"] == 1  # stopped after its first step


def test_records_of_epochs_past_the_checkpoint_are_replaced_on_resume(tmp_path, accelerator):
    job, run = tiny_job(epochs=2), RunDir(tmp_path / "job")
    with pytest.raises(KeyboardInterrupt):
        _train(job, run, accelerator, progress=StopAfter(1))
    run.append_metrics({"epoch": 2, "d_loss": 9.0, "g_loss": 9.0})  # written, then killed before its checkpoint
    _train(job, run, accelerator)
    assert [r["epoch"] for r in run.metrics()] == [1, 2]
    assert run.metrics()[1]["d_loss"] != 9.0


def test_checkpoint_of_another_job_is_not_loaded(tmp_path, accelerator):
    run = RunDir(tmp_path / "job")
    _train(tiny_job(epochs=1, seed=0), run, accelerator)
    with pytest.warns(UserWarning, match="another job"):
        assert _train(tiny_job(epochs=1, seed=1), run, accelerator) == 0


def _with(job, part, **changes):
    import dataclasses

    return dataclasses.replace(job, **{part: dataclasses.replace(getattr(job, part), **changes)})


def test_oversample_sets_the_images_per_epoch(tmp_path, accelerator):
    job = _with(tiny_job(epochs=1), "data", oversample=160)
    run = RunDir(tmp_path / "job")
    _train(job, run, accelerator)
    assert run.metrics()[0]["step"] == 10  # 160 images / batch 16 from a 64-image set


def test_lr_schedule_is_stepped_per_epoch(tmp_path, accelerator):
    job = _with(tiny_job(epochs=3), "train", lr_schedule="cosine")
    run = RunDir(tmp_path / "job")
    _train(job, run, accelerator)
    lrs = [r["lr_g"] for r in run.metrics()]
    assert lrs[0] == job.train.lr_g and lrs[0] > lrs[1] > lrs[2] > 0


@pytest.mark.parametrize(
    "arch,changes",
    [
        ("dcgan", {"n_critic": 2}),
        ("dcgan", {"ema": 0.9, "augment": "diffaugment"}),
        ("dcgan", {"augment": "cutmix", "label_smoothing": 0.1}),
        ("dcgan", {"precision": "bf16"}),
        ("wgan-gp", {"precision": "bf16"}),
        ("dcgan", {"precision": "fp32"}),
        ("wgan-gp", {}),
        ("cgan", {}),
        ("siamese", {}),
    ],
)
def test_recipes_and_archs_train_through_the_one_loop(tmp_path, accelerator, arch, changes):
    job = _with(tiny_job(epochs=1, arch=arch), "train", **changes)
    run = RunDir(tmp_path / "job")
    _train(job, run, accelerator)
    record = run.metrics()[0]
    assert all(torch.isfinite(torch.tensor(record[k])) for k in ("d_loss", "g_loss"))
    ckpt = checkpoint.read(run.checkpoint_path)
    assert (ckpt["ema"] is not None) == (job.train.ema > 0)


def test_scored_epochs_keep_a_generator_snapshot_for_rescoring(tmp_path, accelerator):
    from harness.core.errors import HarnessError
    from harness.train import checkpoint
    from harness.train.state import build

    job = tiny_job(epochs=3, metrics=("fid",), every=2, n_samples=16, kid_subset_size=8)
    run = RunDir(tmp_path / "job")
    calls = []
    train(job, run, accelerator, load_dataset(job.data, Path(".")), scorer=lambda G, e: calls.append(e) or {"fid": 1.0})
    assert calls == [2, 3]  # every 2 epochs, and always the last
    assert sorted(p.name for p in run.snapshots_dir.iterdir()) == ["epoch_0002.pt", "epoch_0003.pt"]
    G = build(job, 3).G
    assert checkpoint.load_generator(run, G, use_ema=False, epoch=2) == 2
    assert checkpoint.load_generator(run, G, use_ema=False) == 3
    with pytest.raises(HarnessError, match=r"no snapshot of epoch 1; snapshots exist for epochs: \[2, 3\]"):
        checkpoint.load_generator(run, G, use_ema=False, epoch=1)


def test_n_critic_counts_across_epochs_so_small_epochs_still_train_g(tmp_path, accelerator):
    job = _with(tiny_job(epochs=3), "train", n_critic=5)  # 4 batches per epoch: fewer than n_critic
    run = RunDir(tmp_path / "job")
    _train(job, run, accelerator)
    assert sum("g_loss" in r for r in run.metrics()) >= 2  # G steps at global steps 5 and 10
    assert checkpoint.read(run.checkpoint_path)["opt_g"]["state"]  # Adam has moments: G was stepped


def test_batch_larger_than_an_epoch_is_refused(tmp_path):
    from harness.core.errors import ConfigError
    from harness.launch.runner import check_batch

    job = _with(tiny_job(), "data", oversample=8)
    with pytest.raises(ConfigError, match="8 training images per epoch"):
        check_batch(job, load_dataset(job.data, Path(".")))


@pytest.mark.parametrize(
    "stats, reason",
    [
        ({"d_loss": 0.69, "g_loss": 0.7, "d_real": 0.5, "wasserstein": -12.0}, ""),
        ({"d_loss": 0.69, "g_loss": float("nan")}, "g_loss is nan"),
        ({"d_loss": float("-inf")}, "d_loss is -inf"),
        ({"d_loss": 0.1, "wasserstein": 3.5e6}, "wasserstein = 3.5e+06 (beyond ±1e+06)"),
    ],
)
def test_divergence_names_the_first_statistic_that_blew_up(stats, reason):
    assert divergence(stats) == reason
