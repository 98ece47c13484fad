"""The draws a loss makes: live from a generator, recorded as a sequence, drawn for each lane and replayed."""

import pytest
import torch

from harness.train import draws
from harness.train.augment import cutmix, diffaugment


def test_live_from_the_global_generator_is_torchs_own_stream():
    torch.manual_seed(7)
    want = torch.rand(4, 1, 1, 1), torch.randint(-3, 4, (4, 2))
    torch.manual_seed(7)
    got = draws.GLOBAL.rand((4, 1, 1, 1), torch.device("cpu")), draws.GLOBAL.randint(-3, 4, (4, 2), torch.device("cpu"))
    assert all(torch.equal(a, b) for a, b in zip(want, got, strict=True))


@pytest.mark.parametrize("augment", [diffaugment, cutmix])
def test_each_lane_replays_what_its_own_generator_draws_live(augment):
    """Recorded on one lane's shapes, drawn for every lane, replayed: each lane's images are those a separate job
    would augment from that lane's stream."""
    x = torch.randn(2, 8, 3, 16, 16)  # [lane, batch, ...]
    record = draws.Record()
    augment(x[0], record)
    gens = [torch.Generator().manual_seed(s) for s in (0, 1)]
    drawn = draws.for_lanes(record.specs, gens, x.device)
    for k, seed in enumerate((0, 1)):
        live = augment(x[k], draws.Live(torch.Generator().manual_seed(seed)))
        assert torch.equal(augment(x[k], draws.Replay([d[k] for d in drawn])), live)


def test_a_replay_that_is_asked_for_something_else_says_what():
    replay = draws.Replay([torch.zeros(3)])
    with pytest.raises(RuntimeError, match=r"recorded \(3,\).*asked \(4,\)"):
        replay.rand((4,), torch.device("cpu"))
    with pytest.raises(RuntimeError, match="drew more"):
        draws.Replay([]).randint(0, 2, (1,), torch.device("cpu"))
