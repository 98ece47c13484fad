"""The harness's feature loop (the fast exact path) against torch-fidelity's own: the same samples, the same
features and scores to float32 rounding; and the pieces it is built from."""

import os
from pathlib import Path

import pytest
import torch

from harness.config.specs import DataSpec, EvalSpec
from harness.core import precision
from harness.core.images import to_uint8
from harness.data import load_dataset
from harness.eval import evaluate, features
from harness.eval.features import Generated, Uint8Images, rebatch
from harness.models.dcgan import Generator

N = 16
SPEC = EvalSpec(n_samples=N, metrics=("fid", "kid", "prc", "coverage"), kid_subset_size=8, kid_subsets=10)


def generator() -> torch.nn.Module:
    torch.manual_seed(0)
    return Generator(z_dim=16, ngf=8, resolution=32)


@pytest.mark.parametrize("sizes", [[5, 5, 5], [16], [3, 11, 2], [7]])
def test_rebatch_keeps_every_image_in_order_in_batches_of_the_size(sizes):
    chunks = list(torch.arange(sum(sizes)).split(sizes))
    batches = list(rebatch(iter(chunks), 4))
    assert torch.equal(torch.cat(batches), torch.arange(sum(sizes)))
    assert all(len(b) == 4 for b in batches[:-1]) and 1 <= len(batches[-1]) <= 4


def test_generated_samples_do_not_depend_on_the_batch_or_the_share():
    G, cpu = generator(), torch.device("cpu")
    whole = Generated(G, 30, 16, seed=3, num_classes=0).materialise(cpu).images
    small = Generated(G, 30, 16, seed=3, batch_size=7).materialise(cpu).images
    shares = [Generated(G, 30, 16, seed=3, share=r).materialise(cpu).images for r in (range(0, 13), range(13, 30))]
    assert whole.dtype == torch.uint8 and whole.shape == (30, 3, 32, 32)
    assert torch.equal(whole, small) and torch.equal(whole, torch.cat(shares))
    assert torch.equal(whole, evaluate.generate(G, 30, 16, 256, cpu, seed=3))


def test_samples_made_inside_the_extractors_precision_are_made_as_outside_it():
    """G's samples are interleaved with the extractor's batches, under the protocol's autocast: G itself must run
    as it runs for generate() (bf16 autocast would change its pixels)."""
    G, cpu = generator(), torch.device("cpu")
    outside = Generated(G, 16, 16, seed=1)
    expected = outside.materialise(cpu).images
    with precision.flags("bf16"), precision.autocast("bf16", cpu):
        inside = torch.cat(list(outside.batches(cpu)))
        under_autocast = to_uint8_bf16(G, outside.z)
    assert torch.equal(inside, expected)
    assert not torch.equal(under_autocast, expected)  # the test can tell: autocast does change G's output


@torch.no_grad()
def to_uint8_bf16(G, z) -> torch.Tensor:
    return to_uint8(G.eval()(z, None).float())


def test_generator_keeps_its_training_mode():
    G = generator().train()
    list(Generated(G, 4, 16, seed=0).batches(torch.device("cpu")))
    assert G.training


@pytest.mark.slow
def test_fast_path_equals_torch_fidelitys_loop(inception_weights):
    """Scores of a generator's samples (made batch by batch as they are scored) against real images: the harness's
    loop and torch-fidelity's agree to 1e-4 relative; so do the two loops' features of real images (the reference's
    features, computed by the fast loop, are cached and read by the plain one)."""
    G = generator()
    reals = load_dataset(DataSpec("synthetic", "synthetic", 32, n_images=N), Path("."), "train").images
    fast = evaluate.score(Generated(G, N, 16, seed=5), reals, "ref-test-fast", SPEC, cuda=False)
    plain = evaluate.score(Generated(G, N, 16, seed=5), reals, "ref-test-fast", SPEC, cuda=False, plain=True)
    assert fast.keys() == plain.keys() and {"fid", "kid", "precision", "recall", "coverage"} <= fast.keys()
    for key in fast:
        assert fast[key] == pytest.approx(plain[key], rel=1e-4, abs=1e-6), key
    extractor = evaluate._extractor("inception-v3-compat", ("2048",), _kwargs(inception_weights))
    ours = features.extract(Uint8Images(reals[:8]), extractor, torch.device("cpu"), batch_size=3)["2048"]
    with torch.no_grad():
        theirs = extractor(reals[:8])[0]
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)


def test_cached_reference_features_are_read_once_per_file(tmp_path):
    path = tmp_path / "f.pt"
    torch.save(torch.ones(3, 2), path)
    first = evaluate._load_features(path)
    assert evaluate._load_features(path) is first  # the same file: not read again
    torch.save(torch.zeros(3, 2), path)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    assert torch.equal(evaluate._load_features(path), torch.zeros(3, 2))  # rewritten: read afresh


def _kwargs(weights) -> dict:
    return {"feature_extractor_weights_path": str(weights), "cuda": False, "batch_size": 64, "verbose": False}
