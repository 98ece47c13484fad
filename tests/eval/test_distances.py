"""FID and KID in torch against torch-fidelity's own numpy functions, on feature sets shaped like Inception's."""

import numpy as np
import pytest
import torch
from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric
from torch_fidelity.metric_kid import kid_features_to_metric

from harness.eval import distances

CPU = torch.device("cpu")


def features(n: int, seed: int, shift: float = 0.0, dim: int = 256) -> torch.Tensor:
    """Non-negative and correlated, like pooled Inception activations (256-d here: the formulas do not care)."""
    gen = torch.Generator().manual_seed(seed)
    basis = torch.randn(64, dim, generator=gen)
    return torch.relu(torch.randn(n, 64, generator=gen) @ basis / 8 + 0.3 + shift).float()


@pytest.mark.parametrize("shift", [0.0, 0.05, 0.5])
def test_fid_equals_torch_fidelity(shift):
    a, b = features(600, 0), features(500, 1, shift)
    theirs = fid_statistics_to_metric(fid_features_to_statistics(a), fid_features_to_statistics(b), verbose=False)
    assert distances.fid(a, b, CPU) == pytest.approx(theirs["frechet_inception_distance"], rel=1e-4)


@pytest.mark.parametrize(("n1", "n2"), [(16, 16), (64, 40), (250, 256)])
def test_fid_of_sets_smaller_than_the_dimension_equals_the_covariance_route_and_torch_fidelity(n1, n2):
    """fid() takes the cross-Gram route below 256 samples here (2048 for Inception): the same number."""
    a, b = features(n1, 6), features(n2, 7, 0.1)
    (mu1, s1), (mu2, s2) = distances._moments(a, CPU), distances._moments(b, CPU)
    covariance = float((mu1 - mu2) @ (mu1 - mu2) + s1.trace() + s2.trace() - 2 * distances.trace_sqrt_product(s1, s2))
    theirs = fid_statistics_to_metric(fid_features_to_statistics(a), fid_features_to_statistics(b), verbose=False)
    # 2e-8 apart at n=16: the covariance route takes roots of the singular S1's rounding-noise eigenvalues.
    assert distances.fid(a, b, CPU) == pytest.approx(covariance, rel=1e-6)
    assert distances.fid(a, b, CPU) == pytest.approx(theirs["frechet_inception_distance"], rel=1e-4)


@pytest.mark.parametrize("n", [100, 2000])  # fewer samples than dimensions: singular covariances, zero eigenvalues
def test_trace_sqrt_product_equals_the_general_eigenvalue_route(n):
    a, b = features(n, 4).double(), features(n, 5, 0.2).double()
    s1, s2 = torch.cov(a.T), torch.cov(b.T)
    general = torch.sqrt(torch.linalg.eigvals(s1 @ s2)).real.sum()  # torch-fidelity's way
    # Singular: the roots of rounding-noise eigenvalues (~1e-14) differ between routes, 4e-8 relative at n=100.
    assert float(distances.trace_sqrt_product(s1, s2)) == pytest.approx(float(general), rel=1e-6)


@pytest.mark.parametrize(("shift", "subsets", "size"), [(0.0, 20, 100), (0.05, 30, 200), (0.5, 10, 300)])
def test_kid_equals_torch_fidelity(shift, subsets, size):
    a, b = features(400, 2), features(350, 3, shift)
    theirs = kid_features_to_metric(a, b, kid_subsets=subsets, kid_subset_size=size, rng_seed=2020, verbose=False)
    mean, std = distances.kid(a, b, subsets, size, seed=2020, device=CPU)
    assert mean == pytest.approx(theirs["kernel_inception_distance_mean"], rel=1e-4, abs=1e-7)
    assert std == pytest.approx(theirs["kernel_inception_distance_std"], rel=1e-4, abs=1e-7)


def test_kid_subsets_are_torch_fidelitys():
    rng = np.random.RandomState(7)
    first = (rng.choice(50, 10, replace=False), rng.choice(40, 10, replace=False))
    idx_1, idx_2 = distances.kid_subsets(50, 40, subsets=3, size=10, seed=7)
    assert (idx_1[0] == first[0]).all() and (idx_2[0] == first[1]).all() and idx_1.shape == (3, 10)


def test_kid_at_the_real_size_agrees_with_torch_fidelity_within_its_float32_error():
    """1000-image subsets of 2048-d features: torch-fidelity sums in float32, this in float64. The means agree
    to 1e-4; the spread over subsets, a difference of nearly equal sums, only to about 1e-2."""
    a, b = features(1200, 4, dim=2048), features(1100, 5, 0.05, dim=2048)
    theirs = kid_features_to_metric(a, b, kid_subsets=5, kid_subset_size=1000, rng_seed=2020, verbose=False)
    mean, std = distances.kid(a, b, 5, 1000, seed=2020, device=CPU)
    assert mean == pytest.approx(theirs["kernel_inception_distance_mean"], rel=1e-4)
    assert std == pytest.approx(theirs["kernel_inception_distance_std"], rel=1e-2)
