"""The GPU benchmark script's CPU path runs end to end (tiny settings): naive loop, harness step, two packed jobs,
two seed-batched lanes."""

from bench import gpu_throughput


def test_cpu_path_prints_a_table_with_ratios(tmp_path):
    out = tmp_path / "bench.md"
    argv = ["--device", "cpu", "--resolutions", "32", "--batch", "16", "--steps", "2", "--warmup", "1"]
    gpu_throughput.main(
        [*argv, "--pack", "1", "2", "--lanes", "2", "--start-delay", "10", "--fid-samples", "0", "--out", str(out)]
    )
    text = out.read_text()
    assert "| 32 | naive (examples) | PyTorch default | 1 |" in text and "| 32 | harness step | fp32 | 1 |" in text
    assert "| 32 | harness step, packed | fp32 | 2 |" in text
    assert "| 32 | harness step, seed-batched | fp32 | 2 |" in text
