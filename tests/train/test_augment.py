import pytest
import torch

from harness.train.augment import AUGMENTS, cutmix, cutout, diffaugment, translation


def test_diffaugment_is_differentiable_and_random():
    x = torch.rand(8, 3, 16, 16, requires_grad=True)
    out = diffaugment(x)
    out.sum().backward()
    assert out.shape == x.shape and x.grad is not None and x.grad.abs().sum() > 0
    assert not torch.equal(diffaugment(x.detach()), diffaugment(x.detach()))


def test_translation_moves_whole_pixels_with_zeros_coming_in():
    x = torch.rand(64, 1, 8, 8) + 1  # no zeros of its own
    out = translation(x, ratio=0.25)
    for img, moved in zip(x, out, strict=True):
        kept = moved[moved != 0]
        assert set(kept.tolist()) <= set(img.flatten().tolist())  # values moved, never blended
    assert (out == 0).any()


def test_cutout_zeroes_a_square_of_half_the_side():
    out = cutout(torch.ones(16, 3, 16, 16))
    zeros = (out[:, 0] == 0).flatten(1).sum(1)
    assert (zeros > 0).all() and (zeros <= 64).all()  # at most 8 x 8 (clipped at the borders)


def test_cutmix_takes_pixels_only_from_the_two_images():
    x = torch.stack([torch.full((3, 8, 8), float(i)) for i in range(4)])
    out = cutmix(x)
    for i in range(4):
        assert set(out[i].unique().tolist()) <= {float(i), float((i - 1) % 4)}


@pytest.mark.parametrize("name", AUGMENTS.names())
def test_every_augment_keeps_shape(name):
    aug = AUGMENTS.get(name)
    x = torch.rand(4, 3, 8, 8) * 2 - 1
    for fn in (aug.d_input, aug.real):
        if fn is not None:
            assert fn(x).shape == x.shape
