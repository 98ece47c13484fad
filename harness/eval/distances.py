"""FID and KID from Inception features, in torch on the scoring device (a GPU when there is one): torch-fidelity's
formulas, KID subsets and seed, in float64 (torch-fidelity computes KID in float32 numpy on the CPU: the means
agree to ~1e-5 relative, KID's std over subsets to ~3e-3 at 1000 x 2048, ours being the more exact)."""

import numpy as np
import torch

KID_DEGREE, KID_COEF0 = 3, 1.0  # torch-fidelity's polynomial kernel: (x.y / d + 1) ** 3
KID_CHUNK = 10  # subsets per batched matmul: 10 x 1000 x 2048 float64 is 160 MB
ROWS = 8192  # features moved to the device at a time: the sets themselves stay where they are (50k x 2048 x 8 B)


def fid(features_1: torch.Tensor, features_2: torch.Tensor, device: torch.device) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets: |mu1 - mu2|^2 + tr(S1 + S2 - 2 sqrt(S1 S2))."""
    if max(len(features_1), len(features_2)) <= features_1.shape[1]:
        return fid_from_samples(features_1, features_2, device)
    (mu1, s1), (mu2, s2) = (_moments(f, device) for f in (features_1, features_2))
    diff = mu1 - mu2
    return float(diff @ diff + torch.trace(s1) + torch.trace(s2) - 2 * trace_sqrt_product(s1, s2))


def trace_sqrt_product(s1: torch.Tensor, s2: torch.Tensor) -> torch.Tensor:
    """tr(sqrt(S1 S2)) for covariance matrices: the sum of the square roots of the eigenvalues of S1 S2, which are
    those of the symmetric sqrt(S1) S2 sqrt(S1). Two symmetric eigendecompositions instead of torch-fidelity's general
    eigvals of S1 S2: the same value (1e-15 relative at 2048 dims) in a seventh of the time on an H100 (0.055 s vs
    0.41 s). Rounding can leave tiny negative eigenvalues; like the real part of their complex root, they add 0."""
    w, v = torch.linalg.eigh(s1)
    root = (v * w.clamp(min=0).sqrt()) @ v.T
    m = root @ s2 @ root
    return torch.linalg.eigvalsh((m + m.T) / 2).clamp(min=0).sqrt().sum()


def fid_from_samples(features_1: torch.Tensor, features_2: torch.Tensor, device: torch.device) -> float:
    """The same distance through the n1 x n2 cross-Gram matrix, for sets smaller than the feature dimension. With
    centred samples A1, A2 and S_i = A_i^T A_i / (n_i - 1), the non-zero eigenvalues of S1 S2 are the squared singular
    values of M = A1 A2^T / sqrt((n1 - 1)(n2 - 1)), so tr sqrt(S1 S2) is the sum of M's singular values: exact, with
    no decomposition of a rank-deficient 2048 x 2048 matrix (two of those took ~2 s a score on a 2-core CPU)."""
    a1, a2 = (f.to(device, torch.float64) for f in (features_1, features_2))
    mu1, mu2 = a1.mean(0), a2.mean(0)
    a1, a2 = a1 - mu1, a2 - mu2
    n1, n2 = len(a1) - 1, len(a2) - 1
    diff = mu1 - mu2
    cross = torch.linalg.svdvals(a1 @ a2.T).sum() / (n1 * n2) ** 0.5
    return float(diff @ diff + (a1 * a1).sum() / n1 + (a2 * a2).sum() / n2 - 2 * cross)


def _moments(x: torch.Tensor, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and unbiased covariance in float64, accumulated over row chunks on the device."""
    chunks = x.split(ROWS)
    mean = sum(c.to(device, torch.float64).sum(0) for c in chunks) / len(x)
    cov = torch.zeros(x.shape[1], x.shape[1], dtype=torch.float64, device=device)
    for c in chunks:
        centred = c.to(device, torch.float64) - mean
        cov += centred.T @ centred
    return mean, cov / (len(x) - 1)


def kid_subsets(n_1: int, n_2: int, subsets: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The subset indices torch-fidelity draws: one RandomState, alternating between the two sets."""
    rng = np.random.RandomState(seed)
    picks = [(rng.choice(n_1, size, replace=False), rng.choice(n_2, size, replace=False)) for _ in range(subsets)]
    return np.stack([a for a, _ in picks]), np.stack([b for _, b in picks])


def kid(
    features_1: torch.Tensor, features_2: torch.Tensor, subsets: int, size: int, seed: int, device: torch.device
) -> tuple[float, float]:
    """Mean and standard deviation over random subsets of the unbiased MMD^2 with a cubic polynomial kernel."""
    idx_1, idx_2 = kid_subsets(len(features_1), len(features_2), subsets, size, seed)
    mmds = []
    for start in range(0, subsets, KID_CHUNK):
        x = features_1[torch.from_numpy(idx_1[start : start + KID_CHUNK])].to(device, torch.float64)
        y = features_2[torch.from_numpy(idx_2[start : start + KID_CHUNK])].to(device, torch.float64)
        mmds.append(_mmd2_unbiased(_kernel(x, x), _kernel(x, y), _kernel(y, y)))
    mmds = torch.cat(mmds)
    return float(mmds.mean()), float(mmds.std(correction=0))


def _kernel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (x @ y.transpose(1, 2) / x.shape[-1] + KID_COEF0) ** KID_DEGREE


def _mmd2_unbiased(k_xx: torch.Tensor, k_xy: torch.Tensor, k_yy: torch.Tensor) -> torch.Tensor:
    m = k_xx.shape[-1]
    off_diagonal = k_xx.sum((1, 2)) - k_xx.diagonal(dim1=1, dim2=2).sum(1)
    off_diagonal += k_yy.sum((1, 2)) - k_yy.diagonal(dim1=1, dim2=2).sum(1)
    return off_diagonal / (m * (m - 1)) - 2 * k_xy.sum((1, 2)) / (m * m)
