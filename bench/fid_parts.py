"""Where the time of a 50k-sample FID goes on a GPU: the Inception forward pass (fp32, TF32, bf16) and the trace of
sqrt(S1 S2) (torch-fidelity's general eigvals vs the two symmetric eigendecompositions of harness/eval/distances.py).

    python bench/fid_parts.py            # needs a CUDA device; no Inception weights (torchvision's InceptionV3,
                                         # the same layers as torch-fidelity's, randomly initialised)
"""

import time

import torch
import torchvision

from harness.core import precision
from harness.core.precision import PRECISIONS
from harness.eval.distances import trace_sqrt_product

DIM, BATCH, SAMPLES = 2048, 500, 50_000


def seconds(fn, repeats: int = 3) -> float:
    """Best of `repeats` synchronised runs, after one warm-up."""
    fn()
    torch.cuda.synchronize()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    device = torch.device("cuda")
    a = torch.randn(10_000, DIM, dtype=torch.float64, device=device)
    b = torch.randn(10_000, DIM, dtype=torch.float64, device=device) * 1.1 + 0.2
    s1, s2 = torch.cov(a.T), torch.cov(b.T)
    general = seconds(lambda: torch.linalg.eigvals(s1 @ s2), 2)
    symmetric = seconds(lambda: trace_sqrt_product(s1, s2))
    ref = torch.sqrt(torch.linalg.eigvals(s1 @ s2)).real.sum()
    rel = float((trace_sqrt_product(s1, s2) - ref).abs() / ref)
    print(f"tr sqrt(S1 S2), {DIM} dims fp64: eigvals {general:.3f} s, symmetric {symmetric:.3f} s, rel diff {rel:.1e}")
    net = torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=False).to(device).eval()
    x = torch.rand(BATCH, 3, 299, 299, device=device)
    for mode in PRECISIONS:  # the protocol's extractor_precision: fp32 (exact), tf32, bf16 (opt-in, named apart)
        with precision.flags(mode), precision.autocast(mode, device), torch.no_grad():
            t = seconds(lambda: net(x))
        print(f"InceptionV3, {BATCH} x 299 px, {mode}: {t:.3f} s, {t * SAMPLES / BATCH:.1f} s per {SAMPLES:,}")


if __name__ == "__main__":
    main()
