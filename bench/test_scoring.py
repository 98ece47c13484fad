"""Inception features of 16 CIFAR-sized images on the CPU, the cost every score pays per image: the harness's path
(its extractor built once, channels-last, batches of features.EXTRACTOR_BATCH["cpu"]) against torch-fidelity's own
(contiguous, the default batch of 64). Both give the same features to float rounding (tests/eval/test_features.py)."""

import torch

from harness.eval import evaluate, features

IMAGES = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))


def _kwargs(weights) -> dict:
    return {"feature_extractor_weights_path": str(weights), "cuda": False, "batch_size": 64, "verbose": False}


def test_harness_inception_features(benchmark, inception_weights):
    extractor = evaluate._extractor("inception-v3-compat", ("2048",), _kwargs(inception_weights))
    out = benchmark(_extract, extractor, features.EXTRACTOR_BATCH["cpu"])
    assert out.shape == (16, 2048)


def test_torch_fidelity_inception_features(benchmark, inception_weights):
    from torch_fidelity.utils import create_feature_extractor

    extractor = create_feature_extractor("inception-v3-compat", ["2048"], **_kwargs(inception_weights))
    features = benchmark(_extract, extractor, 64)
    fast = _extract(evaluate._extractor("inception-v3-compat", ("2048",), _kwargs(inception_weights)), 16)
    torch.testing.assert_close(features, fast, rtol=1e-4, atol=1e-5)


@torch.no_grad()
def _extract(extractor, batch: int) -> torch.Tensor:
    return torch.cat([extractor(IMAGES[i : i + batch])[0] for i in range(0, len(IMAGES), batch)])
