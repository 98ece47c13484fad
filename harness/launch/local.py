"""Run a suite's jobs on this machine: one after another in this process (seeds of a configuration as lanes with
seed_batch), a job of several ranks through accelerate launch, or K single-rank units (a job, or a group of lanes)
packed onto the device at once. And `harness run-job`: one job, or one group of seeds as lanes; idempotent."""

import contextlib
import logging
import os
from dataclasses import dataclass, field

import torch

from harness.config.specs import JobSpec
from harness.core.errors import ConfigError, Damaged, HarnessError, explain_os_error
from harness.launch.processes import EXIT_INTERRUPTED, Where, exit_code, launch_ranks, run_packed
from harness.launch.progress import SuiteProgress
from harness.launch.runner import run_job, run_lanes
from harness.launch.signals import on_stop_signals
from harness.plan.suite import Suite
from harness.store.runs import DIVERGED, DONE, FAILED, INTERRUPTED, JobBusy, RunDir, check_writable, job_dir
from harness.train import lanes, tracking
from harness.train.distributed import StopRequest, launched_world_size, make_accelerator

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    interrupted: list[str] = field(default_factory=list)
    not_started: list[str] = field(default_factory=list)  # left when the suite was stopped
    diverged: list[str] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)  # held by another live process (another run, another task)
    damaged: list[tuple[str, str]] = field(default_factory=list)  # records unreadable or not the job's: not run


def run_suite(
    suite: Suite, jobs: list[JobSpec], where: Where, jobs_per_device: int = 1, seed_batch: bool = False
) -> Outcome:
    """Every job not done yet. Single-rank jobs run here in turn, or `jobs_per_device` at a time in their own
    processes; with `seed_batch`, the jobs that differ only in their seed train as lanes of one batched model (one
    unit, here or in one process). Jobs with `processes: N` run one at a time as N ranks."""
    outcome = Outcome()
    check_writable(where.results / suite.name)  # one line now, not one failure per job
    pending = []
    for job in jobs:
        run = job_dir(where.results, suite.name, job.job_id)
        try:
            finished = _finished(job, run)
        except Damaged as e:  # that job alone is left out, named; the suite goes on
            outcome.damaged.append((job.job_id, str(e)))
            continue
        if finished:
            outcome.skipped.append(job.job_id)
        else:
            pending.append((job, run))
    if not pending:
        return outcome
    tracking.check_installed(suite.trackers)
    single = [(job, run) for job, run in pending if job.train.processes == 1]
    ranked = [(job, run) for job, run in pending if job.train.processes > 1]
    stop = StopRequest()
    with SuiteProgress(len(pending)) as progress:

        def ended(job: JobSpec, run: RunDir, code: int) -> None:
            state = _record(outcome, job, run, code)
            progress.job_ended(job.job_id, state)

        if jobs_per_device > 1:
            packed = _threads_for(where, jobs_per_device)
            units = _lane_groups(single, suite, progress) if seed_batch else [[p] for p in single]
            what = f"{len(single)} jobs" + (f" as {len(units)} units (lanes)" if len(units) < len(single) else "")
            progress.log(f"packing {what}, {jobs_per_device} at a time; logs in each unit's first job's run.log")
            outcome.not_started += [j.job_id for j in run_packed(suite.path, units, packed, jobs_per_device, ended)]
        else:
            _run_here(suite, single, where, progress, outcome, stop, seed_batch)
        for job, run in ranked:
            if outcome.interrupted or outcome.not_started or stop.local():
                outcome.not_started.append(job.job_id)
                continue
            progress.log(f"[bold]{job.job_id}[/bold]: {job.train.processes} processes")
            with on_stop_signals(stop.set):
                try:
                    with run.claim():
                        ended(job, run, launch_ranks(suite.path, job, run, where))
                except JobBusy as e:
                    ended(job, run, e.exit_code)
    return outcome


def _finished(job: JobSpec, run: RunDir) -> bool:
    """Whether the job is finished, its records checked first (raises Damaged). A finished job whose spec.json was
    deleted gets it back from the suite: the suite's spec is the one its id hashes."""
    if run.finished:
        if not run.spec_path.exists():
            run.write_spec(job)
        run.read()
        return True
    return False


def _threads_for(where: Where, k: int) -> Where:
    """K packed jobs share the CPU cores equally unless --threads says otherwise."""
    if where.threads:
        return where
    return Where(where.results, where.data_root, where.device, max(1, (os.cpu_count() or 1) // k))


def _run_here(
    suite: Suite,
    pending: list[tuple[JobSpec, RunDir]],
    where: Where,
    progress: SuiteProgress,
    outcome: Outcome,
    stop: StopRequest,
    seed_batch: bool = False,
) -> None:
    set_threads(where.threads)
    accelerator = make_accelerator(where.device)
    units = _lane_groups(pending, suite, progress) if seed_batch else [[p] for p in pending]
    with on_stop_signals(stop.set):
        for i, unit in enumerate(units):
            if len(unit) > 1:
                _run_lanes_here(suite, unit, accelerator, where, progress, outcome, stop)
            else:
                _run_single(suite, *unit[0], accelerator, where, progress, outcome, stop)
            if stop.local():  # stopped, possibly after the job had finished: start no more
                outcome.not_started += [job.job_id for unit in units[i + 1 :] for job, _ in unit]
                break


def _lane_groups(pending: list[tuple[JobSpec, RunDir]], suite: Suite, progress: SuiteProgress):
    """The pending jobs as units to run: each group of ≥ 2 jobs that differ only in their seed and can train as
    lanes, and every other job alone (saying why a group of seeds cannot be lanes)."""
    runs = dict(pending)
    units = []
    for group, why in lanes.plan([job for job, _ in pending], suite.trackers):
        if why and len(group) > 1:
            progress.log(f"{group[0].job_id} and {len(group) - 1} more seed(s): one by one, not as lanes ({why})")
        units += [[(job, runs[job]) for job in group]] if not why else [[(job, runs[job])] for job in group]
    return units


def _run_single(suite, job, run, accelerator, where, progress, outcome, stop) -> None:
    progress.job_started(job.job_id, job.train.epochs)
    try:
        with run.claim():
            run.stop_path.unlink(missing_ok=True)  # a request to an earlier run: this process holds the job now
            stop.watch(run.stop_path)
            state = run_job(job, run, accelerator, where.data_root, progress, stop, suite.trackers)
    except JobBusy as e:
        state = str(e)
        outcome.busy.append(job.job_id)
    except Exception as e:  # the suite goes on; status.json holds the error (and traceback)
        state = _failed(outcome, job, run, e)
    else:
        _sort(outcome, job.job_id, state)
    progress.job_ended(job.job_id, state)


def _failed(outcome: Outcome, job: JobSpec, run: RunDir, e: Exception) -> str:
    """A failure into the outcome: a harness error as its one line, anything else with where its traceback is."""
    known = explain_os_error(e) if isinstance(e, OSError) else e if isinstance(e, HarnessError) else None
    if known is not None:
        message = str(known)
    else:  # point to the traceback only where it was written: the disk may have refused status.json too
        message = f"{type(e).__name__}: {e}" + (f" (traceback in {run.status_path})" if _has_traceback(run) else "")
    outcome.failed.append((job.job_id, message))
    return f"failed: {message}"


def _has_traceback(run: RunDir) -> bool:
    try:
        return "traceback" in run.status()
    except (Damaged, OSError):
        return False


def _run_lanes_here(suite, unit, accelerator, where, progress, outcome, stop) -> None:
    """A group of seeds as lanes: each claimed (one held elsewhere is left to its holder), trained together, each
    sorted by its own final state. When fewer than two are left, or they cannot train together after all, each
    runs as a separate job (unless a stop has come)."""
    with contextlib.ExitStack() as claims:
        held = _claim(unit, claims, progress, outcome, stop)
        if len(held) > 1:
            try:
                return _train_as_lanes(held, accelerator, where, progress, outcome, stop)
            except lanes.Unbatchable as e:
                progress.log(f"  cannot train them as lanes ({e}); one by one instead")
    for i, (job, run) in enumerate(held):  # the claims are released: each job claims itself again
        if stop.local():
            outcome.not_started += [job.job_id for job, _ in held[i:]]
            break
        _run_single(suite, job, run, accelerator, where, progress, outcome, stop)


def _claim(unit, claims: contextlib.ExitStack, progress, outcome, stop) -> list[tuple[JobSpec, RunDir]]:
    """The unit's jobs this process now holds; a job held by another process, or finished since, is sorted."""
    held = []
    for job, run in unit:
        try:
            claims.enter_context(run.claim())
        except JobBusy as e:
            outcome.busy.append(job.job_id)
            progress.job_ended(job.job_id, str(e))
            continue
        if run.finished:  # finished by another process since the suite looked
            _sort(outcome, job.job_id, "skipped")
            progress.job_ended(job.job_id, "skipped")
        else:
            run.stop_path.unlink(missing_ok=True)  # a request to an earlier run: this process holds the job now
            stop.watch(run.stop_path)
            held.append((job, run))
    return held


def _train_as_lanes(held, accelerator, where, progress, outcome, stop) -> None:
    jobs, runs = [job for job, _ in held], [run for _, run in held]
    progress.job_started(f"{jobs[0].job_id} and {len(jobs) - 1} more seed(s) as lanes", jobs[0].train.epochs)
    try:
        states = run_lanes(jobs, runs, accelerator, where.data_root, progress, stop)
    except lanes.Unbatchable:
        raise
    except Exception as e:  # the suite goes on; each lane's status.json holds the error
        states = [e] * len(jobs)
    for (job, run), state in zip(held, states, strict=True):
        if isinstance(state, Exception):
            state = _failed(outcome, job, run, state)
        else:
            _sort(outcome, job.job_id, state)
        progress.job_ended(job.job_id, state)


def _sort(outcome: Outcome, job_id: str, state: str) -> None:
    lists = {DONE: outcome.done, DIVERGED: outcome.diverged, INTERRUPTED: outcome.interrupted}
    lists.get(state, outcome.skipped).append(job_id)  # "skipped": finished by another process meanwhile


def _record(outcome: Outcome, job: JobSpec, run: RunDir, code: int) -> str:
    """Sort a job run in another process by the state it recorded (its exit code when it recorded none)."""
    state = run.state
    if code == JobBusy.exit_code or (code == 0 and state not in (DONE, DIVERGED)):  # a group left it to its holder
        outcome.busy.append(job.job_id)
        return "already running in another process; left to it"
    if code == EXIT_INTERRUPTED and state not in (DONE, DIVERGED, INTERRUPTED):  # a stopped group never started it
        outcome.not_started.append(job.job_id)
        return "not started"
    if state in (DONE, DIVERGED, INTERRUPTED):
        _sort(outcome, job.job_id, state)
    else:
        error = run.status().get("error") if state == FAILED else None
        error = error or f"exit code {code}; see {run.log_path if run.log_path.exists() else 'the output above'}"
        outcome.failed.append((job.job_id, error))
        return f"failed: {error}"
    return state


def set_threads(threads: int | None) -> None:
    """CPU threads for this job process: --threads, else SLURM's CPUs per task, else torch's default (all cores).
    Bit-identical CPU results need the same number on both sides: kernels split reductions by thread."""
    if not threads and (slurm_cpus := int(os.environ.get("SLURM_CPUS_PER_TASK", "0"))):
        threads = max(1, slurm_cpus // int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    if threads:
        torch.set_num_threads(threads)


def run_group(suite: Suite, jobs: list[JobSpec], where: Where) -> int:
    """`harness run-job` given several ids: seeds of one configuration trained as lanes in this process (one by one
    if they cannot be, saying why), each job claimed as `run-job` claims one. Exit 0: every job done, diverged or
    already finished (or left to the process holding it); 75: stopped and checkpointed; 1: one failed."""
    try:
        lanes.check_group(jobs)
    except lanes.Unbatchable as e:
        raise ConfigError(f"--job-id: {e}; several ids must be seeds of one configuration") from None
    outcome, pending = Outcome(), []
    for job in jobs:
        run = job_dir(where.results, suite.name, job.job_id)
        try:
            if not _finished(job, run):
                pending.append((job, run))
        except Damaged as e:  # that job alone is left out, named; its seeds train
            outcome.damaged.append((job.job_id, str(e)))
            log.error(f"damaged {job.job_id}: {e}")
    if not pending:
        return 1 if outcome.damaged else 0
    tracking.check_installed(suite.trackers)
    stop = StopRequest()  # each job's STOP file is watched once this process holds the job (_claim, _run_single)
    with SuiteProgress(len(pending)) as progress:
        _run_here(suite, pending, where, progress, outcome, stop, seed_batch=True)
    if outcome.interrupted or outcome.not_started:
        return EXIT_INTERRUPTED
    return 1 if outcome.failed or outcome.damaged else 0


def run_one(suite: Suite, job: JobSpec, where: Where) -> int:
    """`harness run-job`: run one job (as this rank when started by accelerate launch); returns the exit code:
    0 done, diverged or already finished, 75 stopped and checkpointed (run again to resume), 1 failed. Raises
    JobBusy (exit 73) when another live process holds the job."""
    run = job_dir(where.results, suite.name, job.job_id)
    if _finished(job, run):
        return 0
    world = launched_world_size()
    tracking.check_installed(suite.trackers)
    if world > 1:  # a rank: whoever launched the ranks (this command, or srun across nodes) holds the job
        return _run_rank(suite, job, run, where, world)
    with run.claim():
        if run.finished:  # finished by another process between the look above and the claim
            return 0
        if job.train.processes > 1:
            return launch_ranks(suite.path, job, run, where)
        return _run_rank(suite, job, run, where, world)


def _run_rank(suite: Suite, job: JobSpec, run: RunDir, where: Where, world: int) -> int:
    if world != job.train.processes:
        raise ConfigError(
            f"{job.job_id} trains with processes: {job.train.processes}, but was launched as {world} ranks; "
            f"launch it with --num_processes {job.train.processes} or let `harness run-job` launch it"
        )
    if world == 1:
        run.stop_path.unlink(missing_ok=True)  # a request to an earlier run; a launcher clears it for several ranks
    set_threads(where.threads)
    stop = StopRequest(run.stop_path)
    with on_stop_signals(stop.set):
        accelerator = make_accelerator(where.device)
        with SuiteProgress(1, quiet=not accelerator.is_main_process) as progress:
            progress.job_started(job.job_id, job.train.epochs)
            state = run_job(job, run, accelerator, where.data_root, progress, stop, suite.trackers)
            progress.job_ended(job.job_id, state)
    return exit_code(state)
