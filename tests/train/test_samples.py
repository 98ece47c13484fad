import torch

from harness.eval import evaluate
from harness.train import samples


def test_slerp_hits_both_ends_and_keeps_the_norm_of_equal_norm_latents():
    a, b = torch.randn(4, 16), torch.randn(4, 16)
    b = b / b.norm(dim=1, keepdim=True) * a.norm(dim=1, keepdim=True)
    t = torch.linspace(0, 1, 5).view(1, 5, 1)
    path = samples.slerp(a[:, None], b[:, None], t)
    assert torch.allclose(path[:, 0], a, atol=1e-5) and torch.allclose(path[:, -1], b, atol=1e-5)
    assert torch.allclose(path.norm(dim=-1), a.norm(dim=1, keepdim=True).expand(4, 5), rtol=1e-4)


class Echo(torch.nn.Module):
    """A 'generator' whose images show its label, so tests can read which class it was asked for."""

    def forward(self, z, y=None):
        value = (y.float() / 10 if y is not None else z[:, :1]).view(-1, 1, 1, 1)
        return value.expand(-1, 3, 4, 4)


def test_per_class_grid_has_one_row_per_class():
    images = samples.per_class(Echo(), 8, num_classes=3, seed=0, device="cpu", per_row=5)
    assert images.shape == (15, 3, 4, 4)
    rows = images[:, 0, 0, 0].view(3, 5)
    assert all(len(set(row.tolist())) == 1 for row in rows) and len(set(rows[:, 0].tolist())) == 3


def test_generated_labels_are_class_balanced():
    images = evaluate.generate(Echo(), 30, 8, batch_size=7, device=torch.device("cpu"), seed=0, num_classes=3)
    _, counts = images[:, 0, 0, 0].unique(return_counts=True)
    assert counts.tolist() == [10, 10, 10]


def test_interpolation_strip_shape():
    strip = samples.interpolation(Echo(), 8, 0, seed=0, device="cpu", pairs=3, steps=4)
    assert strip.shape == (12, 3, 4, 4) and strip.dtype == torch.uint8
