"""The health metrics (harness/eval/health.py) on feature sets whose answer is known."""

import pytest
import torch

from harness.eval import distances, health

CPU = torch.device("cpu")


def clusters(n_per_class: int, classes: int = 3, dim: int = 16, seed: int = 0):
    """Gaussian blobs, one per class, and their labels."""
    gen = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, dim, generator=gen) * 5
    labels = torch.arange(classes).repeat_interleave(n_per_class)
    return centres[labels] + torch.randn(len(labels), dim, generator=gen), labels


def test_a_set_against_itself_is_fully_covered_and_as_diverse():
    real, labels = clusters(40)
    scores = health.metrics({"coverage", "diversity", "intra_fid"}, real, real, (labels, labels), 5, CPU)
    assert scores["coverage"] == 1.0 and scores["density"] == pytest.approx(1.2, abs=0.3)
    assert scores["diversity"] == pytest.approx(1.0) and scores["intra_fid"] == pytest.approx(0.0, abs=1e-6)


def test_a_sample_that_ignores_z_has_no_diversity_and_covers_almost_nothing():
    real, labels = clusters(40)
    fake = real[labels.argsort()][[0, 40, 80]].repeat_interleave(40, dim=0)  # one point per class
    scores = health.metrics({"coverage", "diversity"}, real, fake, (labels, labels), 5, CPU)
    assert scores["diversity"] == 0.0 and scores["coverage"] < 0.2


def test_an_unconditional_set_is_one_class_and_has_no_intra_fid():
    real, _ = clusters(40)
    other, _ = clusters(40, seed=1)
    scores = health.metrics({"diversity", "intra_fid"}, real, other, (None, None), 5, CPU)
    assert "intra_fid" not in scores and scores["diversity"] > 0.5


def test_intra_fid_is_the_mean_of_the_per_class_fids():
    real, labels = clusters(30)
    fake, fake_labels = clusters(30, seed=2)
    want = sum(distances.fid(fake[fake_labels == c], real[labels == c], CPU) for c in range(3)) / 3
    assert health.intra_fid(real, fake, labels, fake_labels, CPU) == pytest.approx(want)


def test_density_and_coverage_are_prdcs_own_numbers():
    import numpy as np
    from prdc import compute_prdc

    real, _ = clusters(50)
    fake, _ = clusters(50, seed=3)
    want = compute_prdc(real.numpy().astype(np.float32), fake.numpy().astype(np.float32), 5)
    got = health.density_coverage(real, fake, 5)
    assert got == pytest.approx({"density": want["density"], "coverage": want["coverage"]})
