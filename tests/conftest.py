"""Shared fixtures: an isolated cache per test run, offline data loading, and the Inception weights when they can be
had (HARNESS_INCEPTION_WEIGHTS, or built from ../shared/weights); tests that need them skip otherwise.

Under pytest-xdist the workers of one run share what is built once: the Inception weights, the unpacked CIFAR-10
copy and the reference-feature cache (the harness's own per-reference lock makes racing workers compute each
reference once). `--dist loadfile` keeps each file's tests on one worker: one SLURM cluster, module fixtures built
once. Each worker gets an equal share of the CPU cores (torch threads, and OMP_NUM_THREADS for the processes its
tests start), so two workers on two cores do not fight over each core."""

import fcntl
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def pytest_configure(config):
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1 and "OMP_NUM_THREADS" not in os.environ:
        import torch

        threads = max(1, (os.cpu_count() or 1) // workers)
        os.environ["OMP_NUM_THREADS"] = str(threads)
        torch.set_num_threads(threads)


# The test files that take longest (pytest --durations on 2 cores), longest first. They are collected first, so
# xdist hands them out before the short ones and no worker is left with two long files at the end while the other
# idles. Files not named keep their order after these.
LONGEST_FIRST = [
    "tests/launch/test_slurm.py",
    "tests/launch/test_local.py",
    "tests/test_smoke.py",
    "tests/test_bad_input.py",
    "tests/test_faults.py",
    "tests/eval/test_evaluate.py",
    "tests/models/test_learning.py",
    "tests/test_zoo.py",
    "tests/test_concurrency.py",
    "tests/test_cli.py",
    "tests/train/test_distributed.py",
]


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


def run_root(tmp_path_factory) -> Path:
    """A folder shared by every worker of this test run (the run's own temp folder without xdist)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextmanager
def once(path: Path):
    """Held by one worker at a time: the first builds what `path` names, the others wait and then find it built."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory):
    """Tests never read or write the user's cache, and never try to download datasets."""
    cache = run_root(tmp_path_factory) / "harness-cache"
    cache.mkdir(exist_ok=True)
    saved = {k: os.environ.get(k) for k in ("HARNESS_CACHE", "HARNESS_OFFLINE", "HARNESS_DATA")}
    os.environ.update(HARNESS_CACHE=str(cache), HARNESS_OFFLINE="1")
    os.environ.pop("HARNESS_DATA", None)
    yield cache
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def _build_weights() -> Path | None:
    script = SHARED / "weights" / "make_fid_weights.sh"
    if not script.exists():
        return None
    out = Path.home() / ".cache" / "harness" / "inception-fid.pth"
    with once(out):
        if not out.exists():
            env = {**os.environ, "PYTHON": sys.executable}
            done = subprocess.run(["bash", str(script), str(out)], env=env, capture_output=True, text=True)
            if done.returncode != 0:
                return None
    return out


@pytest.fixture(scope="session")
def inception_weights() -> Path:
    """Path to torch-fidelity-compatible Inception weights; also exported as HARNESS_INCEPTION_WEIGHTS."""
    env = os.environ.get("HARNESS_INCEPTION_WEIGHTS")
    path = Path(env).expanduser() if env else _build_weights()
    if path is None or not path.is_file():
        pytest.skip(
            "no Inception weights: set HARNESS_INCEPTION_WEIGHTS or provide ../shared/weights (offline machine)"
        )
    os.environ["HARNESS_INCEPTION_WEIGHTS"] = str(path)
    return path


@pytest.fixture(scope="session")
def cifar_root(tmp_path_factory) -> Path:
    """The shared CIFAR-10 image-folder copy, unpacked once; skips where ../shared is absent."""
    archive = SHARED / "datasets" / "cifar10-jpeg.tar.gz"
    if not archive.exists():
        pytest.skip("no ../shared/datasets/cifar10-jpeg.tar.gz on this machine")
    root = run_root(tmp_path_factory) / "data"
    with once(root):
        if not (root / "cifar10").is_dir():
            staging = run_root(tmp_path_factory) / "data.partial"
            staging.mkdir()
            subprocess.run(["tar", "-xzf", str(archive), "-C", str(staging)], check=True)
            staging.rename(root)
    return root


def write_pngs(folder: Path, images, prefix: str = "img") -> Path:
    """uint8 N x 3 x H x W tensor -> PNG files in folder."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(images):
        Image.fromarray(img.permute(1, 2, 0).numpy()).save(folder / f"{prefix}{i:05d}.png")
    return folder
