"""The FID-parts benchmark's CPU path end to end (4 samples, real Inception weights): every part timed, and the fast
whole score equal to torch-fidelity's loop."""

import pytest

from bench import fid_parts


@pytest.mark.slow
def test_cpu_path_times_every_part_and_the_fast_score_equals_the_plain_one(tmp_path, inception_weights):
    out = tmp_path / "fid_parts.md"
    fid_parts.main(["--device", "cpu", "--samples", "4", "--precisions", "fp32", "--out", str(out)])
    text = out.read_text()
    for part in ("torch-fidelity's loop (DataLoader", "+ samples made on the device", "FID from the features"):
        assert part in text
    before, after = (line for line in text.splitlines() if line.startswith("| whole score, "))
    fid_before, fid_after = (float(line.split("|")[3]) for line in (before, after))
    assert fid_before > 0 and fid_after == pytest.approx(fid_before, rel=1e-4)
