"""Jobs in their own processes: the command lines (`harness run-job`, wrapped in `accelerate launch` for a job of
several ranks), one job's ranks on this machine, and K single-rank units (a job, or a group of seeds trained as
lanes) packed onto one device at a time."""

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from harness.config.specs import JobSpec
from harness.core import atomic
from harness.core.errors import ConfigError
from harness.launch.signals import on_stop_signals
from harness.store.runs import DIVERGED, DONE, INTERRUPTED, PENDING, RunDir

EXIT_INTERRUPTED = 75  # EX_TEMPFAIL: checkpointed and stopped on request; the sbatch script requeues the task


def exit_code(state: str) -> int:
    return {DONE: 0, DIVERGED: 0, "skipped": 0, INTERRUPTED: EXIT_INTERRUPTED}.get(state, 1)


@dataclass(frozen=True)
class Where:
    """Where a job's records go and what it runs on: the options every `harness run-job` it starts gets."""

    results: Path
    data_root: Path
    device: str = "auto"
    threads: int | None = None  # CPU threads per job process (torch intra-op); None: torch's default

    def args(self) -> list[str]:
        args = ["--results", str(self.results), "--data-root", str(self.data_root), "--device", self.device]
        return args + (["--threads", str(self.threads)] if self.threads else [])


def run_job_command(suite_path: Path, job_id: str, where: Where) -> list[str]:
    """The command line of one job (one rank of it, inside accelerate launch), or of seeds as lanes ("id,id,...")."""
    return [sys.executable, "-m", "harness", "run-job", str(suite_path), "--job-id", job_id, *where.args()]


def accelerate_command(processes: int, port: int, inner: list[str]) -> list[str]:
    """`accelerate launch` of `inner` (a `python -m harness run-job ...` line) as `processes` ranks on this machine.
    --multi_gpu is also right on CPUs: with no GPU visible the ranks form a gloo group (`--cpu` would start one)."""
    module_args = inner[inner.index("-m") + 1 :]
    return [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_machines", "1",
        "--num_processes", str(processes), "--main_process_port", str(port), "--mixed_precision", "no",
        "--dynamo_backend", "no", "-m", *module_args,
    ]  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rank_env(device: str, threads: int | None, processes: int) -> dict[str, str]:
    """CPU ranks see no GPU; each gets an equal share of the cores unless told otherwise."""
    env = dict(os.environ)
    if device == "cpu" or not torch.cuda.is_available():
        env["CUDA_VISIBLE_DEVICES"] = ""
    env["OMP_NUM_THREADS"] = str(threads or max(1, (os.cpu_count() or 1) // processes))
    return env


def launch_ranks(suite_path: Path, job: JobSpec, run: RunDir, where: Where) -> int:
    """Run one job as `processes` DDP ranks through accelerate launch and wait. A stop signal here becomes the
    job's STOP file, which every rank polls: the ranks sit below accelerate's launcher, out of this one's reach."""
    gpus = torch.cuda.device_count() if where.device != "cpu" else 0
    if gpus and job.train.processes > gpus:
        raise ConfigError(f"{job.job_id}: processes: {job.train.processes} but {gpus} GPUs are visible")
    run.path.mkdir(parents=True, exist_ok=True)
    run.stop_path.unlink(missing_ok=True)
    if run.state == INTERRUPTED:  # an earlier run's word must not pass for this one's if the ranks fail to start
        run.set_status(PENDING, note=f"launching {job.train.processes} ranks")
    inner = run_job_command(suite_path, job.job_id, where)
    command = accelerate_command(job.train.processes, free_port(), inner)
    with on_stop_signals(lambda: atomic.touch(run.stop_path)):
        code = subprocess.run(command, env=rank_env(where.device, where.threads, job.train.processes)).returncode
    run.stop_path.unlink(missing_ok=True)
    return exit_code(run.state) if run.state in (DONE, DIVERGED, INTERRUPTED) else code or 1


Unit = list[tuple[JobSpec, RunDir]]  # what one process trains: one job, or seeds of one configuration as lanes


@dataclass
class Running:
    unit: Unit
    process: subprocess.Popen


def run_packed(suite_path: Path, units: list[Unit], where: Where, k: int, on_end) -> list[JobSpec]:
    """Run single-rank units as separate processes, at most k at once on the one device (small GANs leave a GPU
    mostly idle). A unit's output goes to its first job's run.log; on_end(job, run, exit code) is called for each of
    its jobs as it finishes. A stop signal stops the running units (checkpointed) and starts no more; returns the
    jobs never started."""
    queue, running, stopping = list(units), [], []

    def stop() -> None:
        stopping.append(True)
        for r in running:  # Ctrl-C from a terminal reaches them anyway; USR1/TERM sent to this process do not
            for _, run in r.unit:  # the child that holds the job clears it when it next takes the job
                atomic.touch(run.stop_path)

    with on_stop_signals(stop):
        while (queue and not stopping) or running:
            while queue and not stopping and len(running) < k:
                running.append(_start(suite_path, queue.pop(0), where))
            time.sleep(0.2)
            for r in [r for r in running if r.process.poll() is not None]:
                running.remove(r)
                for job, run in r.unit:
                    on_end(job, run, r.process.returncode)
    return [job for unit in queue for job, _ in unit]


def _start(suite_path: Path, unit: Unit, where: Where) -> Running:
    for _, run in unit:
        run.path.mkdir(parents=True, exist_ok=True)  # the child clears a stale STOP once it holds the job
    log_path = unit[0][1].log_path
    log = os.fdopen(atomic.open_own(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT), "ab")  # never a link
    try:
        env = {**os.environ, "OMP_NUM_THREADS": str(where.threads)} if where.threads else None
        ids = ",".join(job.job_id for job, _ in unit)
        process = subprocess.Popen(
            run_job_command(suite_path, ids, where), stdout=log, stderr=subprocess.STDOUT, env=env
        )
    finally:
        log.close()
    return Running(unit, process)
