"""Shared fixtures: an isolated cache per test session, offline data loading, and the Inception weights when they
can be had (HARNESS_INCEPTION_WEIGHTS, or built from ../shared/weights); tests that need them skip otherwise."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory):
    """Tests never read or write the user's cache, and never try to download datasets."""
    cache = tmp_path_factory.mktemp("harness-cache")
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
    root = tmp_path_factory.mktemp("data")
    subprocess.run(["tar", "-xzf", str(archive), "-C", str(root)], check=True)
    return root


def write_pngs(folder: Path, images, prefix: str = "img") -> Path:
    """uint8 N x 3 x H x W tensor -> PNG files in folder."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(images):
        Image.fromarray(img.permute(1, 2, 0).numpy()).save(folder / f"{prefix}{i:05d}.png")
    return folder
