"""Writing and reading a DCGAN-64 checkpoint (nets, Adam moments, EMA): the cost of the SHA-256 and the fsyncs that
make it crash-safe, paid once per epoch."""

import pytest
import torch

from harness.models.dcgan import Discriminator, Generator
from harness.train import checkpoint


@pytest.fixture(scope="module")
def state() -> dict:
    G, D = Generator(100, 64, 64), Discriminator(64, 64)
    opts = [torch.optim.Adam(net.parameters()) for net in (G, D)]
    for net, opt in zip((G, D), opts, strict=True):  # Adam's moments exist after a step: checkpoint-sized state
        sum(p.sum() for p in net.parameters()).backward()
        opt.step()
    return {"G": G.state_dict(), "D": D.state_dict(), "opt_g": opts[0].state_dict(), "opt_d": opts[1].state_dict(),
            "ema": {f"module.{k}": v for k, v in G.state_dict().items()}}  # fmt: skip


def test_checkpoint_write(benchmark, state, tmp_path):
    path = tmp_path / "checkpoint.pt"
    benchmark(checkpoint.write, path, state, tmp_path / "checkpoint.prev.pt")  # from the 2nd round, one rotation
    assert path.stat().st_size > 20e6


def test_checkpoint_read(benchmark, state, tmp_path):
    path = tmp_path / "checkpoint.pt"
    checkpoint.write(path, state)
    loaded = benchmark(checkpoint.read, path)
    assert torch.equal(loaded["G"]["main.0.weight"], state["G"]["main.0.weight"])
