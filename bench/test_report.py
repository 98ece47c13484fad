"""Report aggregation over a results tree of 1000 finished jobs (fake records, real files): the job frame, the
mean ± std over seeds, and the Markdown tables."""

import pytest

from harness.config import protocols
from harness.config.specs import DataSpec, EvalSpec, JobSpec, ModelSpec, TrainSpec
from harness.core import atomic
from harness.models import ARCHS as ZOO
from harness.report import aggregate
from harness.report import writer as report
from harness.store.runs import RunDir, read_runs

ARCHS, SEEDS, JOBS = ("dcgan", "wgan-gp", "sngan", "sagan"), 5, 1000


def _fake_run(root, i: int) -> None:
    arch, seed, variant = ARCHS[i % 4], i // 4 % SEEDS, i // (4 * SEEDS)
    job = JobSpec(
        ModelSpec(arch),
        DataSpec("cifar10", "cifar10", 32),
        TrainSpec(epochs=30, seed=seed, lr_g=1e-4 * (1 + variant), objective=ZOO.get(arch).objective),
        EvalSpec(),
    )
    run = RunDir(root / "bench" / job.job_id)
    run.write_spec(job)
    run.set_status("done")
    protocol = protocols.describe(job, job.eval, 50000, "0123456789ab", conditional=False)
    scores = {"fid": 20.0 + i % 17, "kid": 0.01 + i % 7 / 1000, "kid_std": 0.001}
    atomic.write_json(run.final_path, {"job_id": job.job_id, "epochs": 30, **scores, "protocol": protocol})
    run.append_metrics({"epoch": 30, "step": 11700, "seconds": 12.0, "images_per_s": 14000.0, **scores})


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    for i in range(JOBS):
        _fake_run(root, i)
    return root


def test_aggregate_1000_jobs(benchmark, results):
    def aggregate_and_tabulate():
        jobs = aggregate.jobs_frame(read_runs(results)[0])
        return jobs, report.by_config(jobs), report.markdown(jobs)

    jobs, configs, text = benchmark(aggregate_and_tabulate)
    assert len(jobs) == JOBS and len(configs) == JOBS // SEEDS
    assert "dcgan" in text
