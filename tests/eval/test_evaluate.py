"""The torch-fidelity adapter against torch-fidelity itself, with real Inception weights (small sets: CPU is slow)."""

import dataclasses
import logging
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch_fidelity
from torchvision.utils import save_image

from harness.config import protocols
from harness.config.specs import DataSpec, EvalSpec
from harness.core.images import to_uint8
from harness.data import load_dataset
from harness.eval import evaluate
from harness.models.dcgan import Generator
from tests.conftest import write_pngs

N = 16
SPEC = EvalSpec(n_samples=N, metrics=("fid", "kid", "isc", "prc"), kid_subset_size=8, kid_subsets=20)


@pytest.fixture(scope="module")
def sets():
    """Two different small sets of structured images (train and test splits of the synthetic data)."""
    data = DataSpec("synthetic", "synthetic", 32, n_images=N)
    return load_dataset(data, Path("."), "train").images, load_dataset(data, Path("."), "test").images


def fidelity(input1, input2, weights: Path) -> dict:
    return torch_fidelity.calculate_metrics(
        input1=str(input1), input2=str(input2), fid=True, kid=True, prc=True, kid_subset_size=8, kid_subsets=20,
        feature_extractor="inception-v3-compat", feature_layer_prc="2048",
        feature_extractor_weights_path=str(weights), cuda=False, verbose=False, cache=False, save_cpu_ram=True,
    )  # fmt: skip


def test_harness_scores_equal_torch_fidelity_on_the_same_png_files(sets, tmp_path, inception_weights):
    a, b = sets
    ours = evaluate.score(a, b, "ref-test-equal", SPEC, cuda=False)
    theirs = fidelity(write_pngs(tmp_path / "a", a), write_pngs(tmp_path / "b", b), inception_weights)
    assert ours["fid"] == pytest.approx(theirs["frechet_inception_distance"], rel=1e-4)
    assert ours["kid"] == pytest.approx(theirs["kernel_inception_distance_mean"], rel=1e-4)
    assert ours["precision"] == pytest.approx(theirs["precision"]) and ours["recall"] == pytest.approx(theirs["recall"])
    assert ours["fid"] > 1  # two different sets are far apart


def test_fid_of_a_set_with_itself_is_zero_and_fid_is_symmetric(sets, inception_weights, caplog):
    caplog.set_level(logging.INFO, logger="harness")
    a = sets[0]
    noise = torch.randint(0, 256, a.shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    same = evaluate.score(a, a, "ref-test-a", SPEC, cuda=False)
    far = evaluate.score(noise, a, "ref-test-a", SPEC, cuda=False)
    back = evaluate.score(a, noise, "ref-test-noise", SPEC, cuda=False)
    assert abs(same["fid"]) < 1e-2 and far["fid"] > 100
    # KID is an unbiased estimate from random subsets: near 0 for one set with itself, not exactly 0.
    assert abs(same["kid"]) < 0.1 * far["kid"]
    assert back["fid"] == pytest.approx(far["fid"], rel=1e-4)
    # The reference of the first call was computed once and reused by the second.
    logged = [r.getMessage() for r in caplog.records if "ref-test-a" in r.getMessage()]
    assert logged[0].startswith("reference features: computing 16 images") and "cached" in logged[1]


def test_generator_scored_in_memory_equals_its_samples_saved_as_png(sets, tmp_path, inception_weights):
    torch.manual_seed(0)
    G = Generator(z_dim=16, ngf=8, resolution=32).eval()
    fakes = evaluate.generate(G, N, 16, batch_size=10, device=torch.device("cpu"), seed=3)
    with torch.no_grad():
        z = torch.randn(N, 16, generator=torch.Generator().manual_seed(3))
        images = (G(z) + 1) / 2
    folder = tmp_path / "fakes"
    folder.mkdir()
    for i, img in enumerate(images):
        save_image(img, folder / f"{i:05d}.png")
    reals = sets[0]
    ours = evaluate.score(fakes, reals, "ref-test-gen", SPEC, cuda=False)
    theirs = fidelity(folder, write_pngs(tmp_path / "reals", reals), inception_weights)
    assert ours["fid"] == pytest.approx(theirs["frechet_inception_distance"], rel=1e-4)


def test_inception_score_is_missing_not_nan_without_a_classifier_head(sets, inception_weights):
    _, _, has_head = evaluate.extractor()
    scores = evaluate.score(sets[0], sets[1], "ref-test-is", SPEC, cuda=False)
    assert all(math.isfinite(v) for v in scores.values())
    assert ("is" in scores) == has_head


def test_reference_key_changes_with_everything_that_changes_the_features():
    base = DataSpec("cifar10", "cifar10", 32)
    keys = {
        evaluate.reference_key(base, "train", 100, "w1"),
        evaluate.reference_key(base, "train", 100, "w2"),
        evaluate.reference_key(base, "train", 200, "w1"),
        evaluate.reference_key(DataSpec("cifar10", "cifar10", 64), "train", 100, "w1"),
        evaluate.reference_key(DataSpec("cifar10", "x", 32, classes=("cat", "dog")), "train", 100, "w1"),
        evaluate.reference_key(DataSpec("imagefolder", "x", 32, path="/a"), "train", 100, "w1"),
        evaluate.reference_key(DataSpec("imagefolder", "x", 32, path="/b"), "train", 100, "w1"),
    }
    keys.add(evaluate.reference_key(base, "test", 100, "w1"))
    keys.add(evaluate.reference_key(DataSpec("cifar10", "cifar10", 32, n_images=500), "train", 100, "w1"))
    assert len(keys) == 9
    # The label is only a name: the same images under another name share their cached features.
    assert evaluate.reference_key(base, "train", 100, "w1") == evaluate.reference_key(
        DataSpec("cifar10", "c10", 32), "train", 100, "w1"
    )


def test_a_bf16_extractor_is_its_own_protocol_with_its_own_reference_and_a_close_number(sets, inception_weights):
    """The opt-in fast protocols: named apart (fid10k-train-bf16), cached apart, never mixed with exact scores; on
    these 16 images bfloat16 Inception moves FID by well under 2% (measured 0.2% at 32 images on this CPU)."""
    a, b = sets
    exact_spec = EvalSpec(n_samples=N, metrics=("fid",))
    fast_spec = dataclasses.replace(exact_spec, extractor_precision="bf16")
    assert protocols.name_of(protocols.apply(exact_spec, "fid10k-train")) == "fid10k-train"
    assert protocols.name_of(protocols.apply(exact_spec, "fid10k-train-bf16")) == "fid10k-train-bf16"
    data = DataSpec("synthetic", "synthetic", 32, n_images=N)
    exact_key, fast_key = (evaluate.reference_key(data, "test", N, "w", p) for p in ("fp32", "bf16"))
    assert fast_key == exact_key + "-bf16"  # the exact key is the one written before the setting existed
    exact = evaluate.score(a, b, exact_key, exact_spec, cuda=False)["fid"]
    fast = evaluate.score(a, b, fast_key, fast_spec, cuda=False)["fid"]
    assert fast != exact and abs(fast - exact) < 0.02 * exact
    cached = {path.name.split("-inception")[0] for path in evaluate.fidelity_cache().glob("ref-synthetic-*.pt")}
    assert {exact_key, fast_key} <= cached


def test_a_cached_fast_twin_does_not_pass_for_the_exact_reference(isolated_cache):
    """An fp32 key is a prefix of its -bf16 twin's: only the exact key's own feature files count as cached."""
    key = evaluate.reference_key(DataSpec("synthetic", "synthetic", 32), "train", 8, "w")
    evaluate.fidelity_cache().mkdir(parents=True, exist_ok=True)
    twin = evaluate.fidelity_cache() / f"{key}-bf16-inception-v3-compat-features-2048.pt"
    twin.write_bytes(b"")
    try:
        assert not evaluate.reference_cached(key) and evaluate.reference_cached(key + "-bf16")
    finally:
        twin.unlink()


def test_to_uint8_rounds_like_save_image():
    x = torch.linspace(-1, 1, 1001).view(1, 1, 1, -1).expand(1, 3, 1, -1)
    expected = ((x + 1) / 2).mul(255).add(0.5).clamp(0, 255).to(torch.uint8)
    assert torch.equal(to_uint8(x), expected)
    assert to_uint8(torch.tensor([-5.0, 5.0])).tolist() == [0, 255]


def test_missing_weights_file_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("HARNESS_INCEPTION_WEIGHTS", str(tmp_path / "nope.pth"))
    with pytest.raises(evaluate.EvalError, match="does not exist"):
        evaluate.extractor()


def test_corrupt_weights_file_is_a_clear_error(monkeypatch, tmp_path):
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    monkeypatch.setenv("HARNESS_INCEPTION_WEIGHTS", str(bad))
    with pytest.raises(evaluate.EvalError, match="unreadable"):
        evaluate.extractor()


RACE = """
import sys, torch
from pathlib import Path
from harness.eval import evaluate
from harness.data import load_dataset
from harness.config.specs import DataSpec, EvalSpec
import logging
logging.basicConfig(level=logging.INFO, format="%(message)s")
reals = load_dataset(DataSpec("synthetic", "synthetic", 32, n_images=16), Path(".")).images
spec = EvalSpec(n_samples=16, metrics=("fid",))
evaluate.score(reals.flip(0), reals, "ref-test-race", spec, cuda=False)
"""


def test_processes_racing_for_one_reference_compute_it_once(inception_weights, isolated_cache):
    procs = [subprocess.Popen([sys.executable, "-c", RACE], stderr=subprocess.PIPE, text=True) for _ in range(2)]
    logs = [p.communicate()[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), logs
    lines = [line for log in logs for line in log.splitlines() if "ref-test-race" in line]
    assert sorted(line.split(":")[1].split()[0] for line in lines) == ["cached", "computing"], lines


UNFIT = {
    "one-dimensional": lambda good: good.flatten(),
    "another-width": lambda good: good[:, :100],
    "another-row-count": lambda good: good[:3],
    "non-finite": lambda good: good.index_fill(0, torch.tensor([1]), math.nan).index_fill(
        1, torch.tensor([7]), math.inf
    ),
}


@pytest.fixture(scope="module")
def clean(sets, inception_weights):
    """Scores of 4 images against 4 with reference features cached under their key, and that cache file."""
    fakes, reals = sets[0][:4], sets[1][:4]
    spec = EvalSpec(n_samples=4, metrics=("fid",))
    scores = evaluate.score(fakes, reals, "ref-test-unfit", spec, cuda=False)
    [path] = evaluate.fidelity_cache().glob("ref-test-unfit-*.pt")
    return fakes, reals, spec, scores, path


@pytest.mark.parametrize("how", list(UNFIT))
def test_cached_features_of_the_wrong_shape_or_not_finite_are_recomputed_with_a_warning(clean, how, caplog):
    fakes, reals, spec, scores, path = clean
    good = torch.load(path, weights_only=True)
    assert good.shape == (4, 2048) and torch.isfinite(good).all()
    torch.save(UNFIT[how](good).clone(), path)
    caplog.set_level(logging.INFO, logger="harness")
    assert evaluate.score(fakes, reals, "ref-test-unfit", spec, cuda=False) == scores
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.startswith(f"cached features {path} hold ") and warning.endswith("; recomputing"), warning
    assert torch.equal(torch.load(path, weights_only=True), good)  # replaced: later scores read it as it should be
