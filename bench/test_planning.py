"""Planning a large sweep (issue #16: 10^5 jobs in ≤ 10 s and ≤ 1 GB): `harness plan`, `run --dry-run` and `status`
of suites of 10^4 and 10^5 jobs (5 archs x 2 datasets x n/10 seeds, 1% of them finished). Timed in this process
through the command's own function (its output discarded), and as a real process whose peak RSS is asserted; the
time of both is reported, never asserted. The plain `pytest` run (benchmarks disabled) checks 10^4 jobs in process
and plan's peak RSS as a process."""

import contextlib
import io
import subprocess
import sys

import pytest
import yaml

from harness import cli
from harness.core import atomic
from harness.plan.suite import load_suite
from harness.store.runs import job_dir

SIZES = (10**4, 10**5)
PEAK_RSS = 2**30  # bytes: the bound of issue #16
COMMANDS = {"plan": ("plan",), "dry-run": ("run", "--dry-run"), "status": ("status",)}
# ru_maxrss of the children a fresh interpreter waited for: its one child, the command
PEAK = "import resource, subprocess, sys; subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True); "
PEAK += "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"


def _suite(n: int) -> dict:
    return {
        "name": f"sweep{n}",
        "matrix": {
            "arch": ["dcgan", "sngan", "sagan", "wgan", "wgan-gp"],
            "dataset": ["synthetic", "shapes-small"],
            "epochs": [5],
            "seed": list(range(n // 10)),
        },
        "datasets": {"shapes-small": {"source": "synthetic", "n_images": 512}},
        "defaults": {"batch_size": 64, "eval": {"metrics": ["fid"], "n_samples": 1000, "every": 1}},
        "overrides": {"arch": {"wgan": {"lr_g": 1e-4}}, "dataset": {"shapes-small": {"batch_size": 32}}},
    }


def _make(folder, n: int):
    path, results = folder / "sweep.yaml", folder / "results"
    path.write_text(yaml.safe_dump(_suite(n)))
    suite = load_suite(path)
    assert len(suite.jobs) == n
    for job in suite.jobs[::100]:  # finished jobs: status reads their records, plan and the dry run their status
        run = job_dir(results, suite.name, job.job_id)
        run.write_spec(job)
        run.set_status("done")
        atomic.write_json(run.final_path, {"job_id": job.job_id, "epochs": 5, "fid": 30.0})
        run.append_metrics({"epoch": 5, "seconds": 1.0, "fid": 30.0})
    return path, results


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """sweep(n): a suite file of n jobs and its results folder, made on first use (the 10^5 one only when timed)."""
    made = {}

    def get(n: int):
        if n not in made:
            made[n] = _make(tmp_path_factory.mktemp(f"sweep{n}"), n)
        return made[n]

    return get


def _size(benchmark, sweep, n: int):
    if benchmark.disabled and n > SIZES[0]:
        pytest.skip("10^5 jobs only when timed (pytest bench --benchmark-enable -n 0)")
    return sweep(n)


def _in_process(command: str, path, results) -> str:
    calls = {
        "plan": lambda: cli.plan(path, None, results),
        "dry-run": lambda: cli.run(path, None, results, dry_run=True),
        "status": lambda: cli.status(path, results),
    }
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        calls[command]()
    return printed.getvalue()


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("command", COMMANDS)
def test_in_process(benchmark, sweep, command, n):
    path, results = _size(benchmark, sweep, n)
    printed = benchmark.pedantic(_in_process, (command, path, results), rounds=3 if n <= SIZES[0] else 1)
    lines = printed.count("\n")
    assert lines == {"plan": n + 2, "dry-run": n, "status": 1 + n - n // 100}[command], printed[-300:]


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("command", COMMANDS)
def test_as_a_process_peak_rss(benchmark, sweep, command, n):
    if benchmark.disabled and command != "plan":
        pytest.skip("untimed, plan's process stands for the three; the dry run's and status's when timed")
    path, results = _size(benchmark, sweep, n)
    args = [sys.executable, "-m", "harness", *COMMANDS[command], str(path), "--results", str(results)]

    def peak() -> int:
        done = subprocess.run([sys.executable, "-c", PEAK, *args], capture_output=True, text=True, check=True)
        return int(done.stdout) * (1 if sys.platform == "darwin" else 1024)  # ru_maxrss: bytes there, KiB on Linux

    rss = benchmark.pedantic(peak, rounds=1)
    benchmark.extra_info["peak_rss_mb"] = round(rss / 2**20)
    print(f"{command} of {n} jobs: peak RSS {rss / 2**20:.0f} MB")
    assert rss <= PEAK_RSS, f"{command} of {n} jobs peaked at {rss / 2**20:.0f} MB"
