import pytest
import torch

from harness.core import precision


def _flags():
    return torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32


@pytest.mark.parametrize(("name", "tf32"), [("fp32", False), ("tf32", True), ("bf16", True)])
def test_flags_hold_inside_the_block_and_are_restored_after(name, tf32):
    before = _flags()
    with precision.flags(name):
        assert _flags() == (tf32, tf32)
        with precision.flags("fp32"):  # scoring inside training: strict float32, then back
            assert _flags() == (False, False)
        assert _flags() == (tf32, tf32)
    assert _flags() == before


def test_bf16_autocasts_forward_passes_only_when_asked():
    x = torch.randn(4, 4)
    with precision.autocast("bf16", torch.device("cpu")):
        assert (x @ x).dtype == torch.bfloat16
    with precision.autocast("tf32", torch.device("cpu")):
        assert (x @ x).dtype == torch.float32
