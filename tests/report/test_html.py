"""report.html: its content as text, and the page rendered by a real headless Chromium (Debian's package)."""

import os
import shutil
import subprocess

import pytest
import torch
from PIL import Image

from harness.report.writer import write_report
from harness.store.runs import FAILED
from tests.conftest import write_pngs
from tests.report.test_writer import fake_run


@pytest.fixture
def report(tmp_path):
    """Two configurations of three seeds (intervals, a comparison, a significance matrix, CI bands) and a failure."""
    for arch, fids in (("dcgan", (100.0, 110.0, 104.0)), ("sngan", (130.0, 138.0, 135.0))):
        for seed, fid in enumerate(fids):
            job = fake_run(tmp_path, seed, fid, arch=arch)
            noise = torch.Generator().manual_seed(seed)
            grid = torch.randint(0, 256, (1, 3, 64, 64), dtype=torch.uint8, generator=noise)
            write_pngs(tmp_path / "s" / job.job_id / "samples", grid, prefix="epoch_000")
    fake_run(tmp_path, 3, 0.0, state=FAILED)
    write_report(tmp_path / "s")
    return tmp_path / "s" / "report.html"


def test_the_page_has_the_tables_embedded_plots_a_gallery_and_specs_and_needs_no_network(report):
    text = report.read_text()
    assert "<h2>Headline: fid64-train</h2>" in text and "<b>104.67 [92.16, 117.17]</b>" in text
    assert '<h2 id="comparisons">Comparisons</h2>' in text and "<td>worse</td>" in text
    # FID vs epoch (CI bands), time to FID, losses, final FID (CI bars), the significance matrix
    assert text.count('src="data:image/svg+xml;base64,') == 5 and 'alt="significance_fid64-train"' in text
    assert text.count("<details><summary>dcgan_synthetic_32px") == 4 and "&quot;arch&quot;: &quot;dcgan&quot;" in text
    assert 'src="dcgan_synthetic_32px_e2_s0_' in text and "/samples/epoch_00000000.png" in text  # linked, relative
    assert "http://" not in text and "https://" not in text and "<script" not in text


def test_the_report_has_every_configurations_samples_side_by_side(report):
    assert (report.parent / "samples.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_regenerating_the_report_gives_the_same_page(report):
    first = report.read_text()
    write_report(report.parent)
    assert report.read_text() == first  # nothing time- or machine-dependent: committed reports stay diff-free


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def chromium(*args: str, tmp) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--disable-quic", f"--user-data-dir={tmp}"]  # fmt: skip
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=120)


@pytest.fixture
def browser():
    if CHROMIUM is None:
        if os.environ.get("HARNESS_REQUIRE_BROWSER"):
            pytest.fail("HARNESS_REQUIRE_BROWSER is set but chromium is not installed")
        pytest.skip("no chromium here (apt-get install chromium)")
    return CHROMIUM


@pytest.mark.integration
def test_chromium_renders_the_report(report, browser, tmp_path):
    shot = tmp_path / "shot.png"
    done = chromium(f"--screenshot={shot}", "--window-size=1280,1600", report.as_uri(), tmp=tmp_path / "profile")
    assert shot.exists(), done.stderr[-2000:]
    image = Image.open(shot).convert("RGB")
    assert image.size == (1280, 1600)
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50  # text, tables and plots: far from a blank page
    dom = chromium("--dump-dom", report.as_uri(), tmp=tmp_path / "profile2").stdout
    assert '<table class="headline">' in dom and "<b>104.67 [92.16, 117.17]</b>" in dom
    assert 'id="comparisons"' in dom and 'alt="significance_fid64-train"' in dom
    assert 'alt="final_fid_fid64-train"' in dom
    assert dom.count("<img") >= 5 + 6  # the plots and the six jobs' sample grids
