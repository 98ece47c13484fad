import json
import os
import subprocess
import sys

import pytest
import torch

from harness.launch.processes import accelerate_command, free_port
from harness.train.distributed import StopRequest, gather_parts, make_accelerator, part, rank_seed
from tests.conftest import REPO


@pytest.mark.parametrize(("n", "world"), [(10, 1), (10, 3), (7, 2), (2, 4)])
def test_shares_cover_every_item_once_in_rank_order(n, world):
    shares = [part(n, r, world) for r in range(world)]
    assert [i for s in shares for i in s] == list(range(n))
    assert max(map(len, shares)) - min(map(len, shares)) <= 1


def test_one_process_gathers_its_own_share_unchanged():
    x = torch.arange(12).reshape(6, 2)
    assert gather_parts(make_accelerator("cpu"), x, 6) is x


def test_rank_zero_keeps_the_job_seed_and_other_ranks_differ():
    assert rank_seed(7, 0) == 7
    assert len({rank_seed(7, r) for r in range(4)}) == 4


def test_a_stop_request_comes_from_its_flag_or_its_file(tmp_path):
    accelerator = make_accelerator("cpu")
    stop = StopRequest(tmp_path / "STOP")
    assert not stop.due(accelerator, 1)
    stop.set()
    assert stop.due(accelerator, 2)
    from_file = StopRequest(tmp_path / "STOP")
    from_file.POLL_SECONDS = 0
    (tmp_path / "STOP").touch()
    assert from_file.due(accelerator, 3)


@pytest.mark.integration
@pytest.mark.parametrize(  # plain, gradient penalty, pair discriminator; data on the device or from a DataLoader
    ("arch", "data"), [("dcgan", "resident"), ("dcgan", "loader"), ("wgan-gp", "resident"), ("siamese", "resident")]
)
def test_two_cpu_ranks_split_each_batch_and_stay_in_sync(tmp_path, arch, data):
    """A real 2-rank gloo group (accelerate launch with no GPU visible) through the trainer's prepare/train_step."""
    out = tmp_path / "probe.json"
    command = accelerate_command(2, free_port(), [sys.executable, "-m", "tests.ddp_probe", str(out), arch, data])
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    probe = json.loads(out.read_text())
    ranks = probe["reports"]
    assert [r["world_size"] for r in ranks] == [2, 2] and [r["rank"] for r in ranks] == [0, 1]
    assert not set(ranks[0]["batch"]) & set(ranks[1]["batch"])  # different data on each rank...
    assert ranks[0]["batch"] + ranks[1]["batch"] == probe["global_batch"]  # ...that together are the global batch
    assert all(r["changed"] for r in ranks)  # a step was taken
    assert ranks[0]["params"] == ranks[1]["params"]  # gradients were all-reduced: identical nets after the step


def test_every_command_taking_a_device_refuses_an_unknown_or_absent_one_in_one_line(tmp_path):
    """Through the real CLI. `submit` checks only the name: its jobs run on the cluster's nodes, not here."""
    from concurrent.futures import ThreadPoolExecutor

    from tests.helpers import harness, tiny_suite

    suite, results = str(tiny_suite(tmp_path / "s.yaml", metrics=["fid"], n_samples=16, ref_size=16)), str(tmp_path)
    commands = {
        "run": ["run", suite, "--results", results],
        "run-job": ["run-job", suite, "--index", "0", "--results", results],
        "score": ["score", results],
        "refs build": ["refs", "build", suite],
        "submit": ["submit", suite, "--results", results, "--dry-run"],
    }
    # run and score with --device tpu are tests/test_bad_input.py's cases
    cases = [
        (name, d) for name in commands for d in ("tpu", "cuda") if (name, d) not in {("run", "tpu"), ("score", "tpu")}
    ]
    with ThreadPoolExecutor(2) as pool:
        done = list(pool.map(lambda case: harness(*commands[case[0]], "--device", case[1]), cases))
    for (name, device), d in zip(cases, done, strict=True):
        if device == "cuda" and (name == "submit" or torch.cuda.is_available()):
            continue
        assert d.returncode == 2 and "Traceback" not in d.stderr, (name, device, d.stderr)
        expected = "no CUDA device is visible; use --device cpu" if device == "cuda" else "--device 'tpu': valid: "
        assert d.stderr.startswith("error: --device ") and expected in d.stderr and d.stderr.count("\n") == 1, d.stderr
    submitted = done[cases.index(("submit", "cuda"))]
    assert submitted.returncode == 0 and "--device cuda" in submitted.stdout, submitted.stderr
    assert not list(tmp_path.rglob("status.json"))  # refused before any job started
