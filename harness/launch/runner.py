"""Run one JobSpec, or seeds of one configuration as lanes (run_lanes), each in its own run directory: status, data,
training (resumed if interrupted), scoring, final record."""

import contextlib
import dataclasses
import platform
import time
import traceback
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator

from harness import __version__
from harness.config.sizes import check_sizes
from harness.config.specs import JobSpec
from harness.core.errors import HarnessError, explain_os_error
from harness.data import ImageSet, load_dataset, sharpen
from harness.eval import scoring
from harness.models import ARCHS
from harness.store.records import SCORE_KEYS
from harness.store.runs import DIVERGED, DONE, FAILED, FINISHED, INTERRUPTED, RUNNING, RunDir
from harness.train import checkpoint, samples, tracking
from harness.train.distributed import StopRequest
from harness.train.lanes import Unbatchable, train_lanes
from harness.train.loop import Diverged, Interrupted, NoProgress, Progress, Scorer, train
from harness.train.state import build_generator


def make_scorer(job: JobSpec, data: ImageSet, data_root: Path, accelerator: Accelerator) -> tuple[Scorer, dict]:
    """Scores for the epochs due: the last with eval.n_samples (eval.repeats times), earlier ones once, with
    eval.curve_samples when set (a cheaper FID-vs-epoch curve; FID is biased upward with fewer samples, so each record
    keeps its count)."""
    ref = scoring.reference(job, job.eval, data_root, data)
    classes = scoring.num_classes(job, len(data.class_names))
    device = accelerator.device
    curve = dataclasses.replace(job.eval, n_samples=job.eval.curve_samples or job.eval.n_samples, repeats=1)

    def scorer(G, epoch):
        spec = job.eval if epoch == job.train.epochs else curve
        scores = scoring.score_generator(G, job, spec, ref, classes, device, accelerator)
        return {**scores, "n_samples": spec.n_samples} if scores else scores

    return scorer, ref.protocol


def check_batch(job: JobSpec, data: ImageSet) -> None:
    """The batch against the training set as read (a folder's size is known only now)."""
    per_epoch, source = (job.data.oversample, "oversample") if job.data.oversample else (len(data), "as read")
    check_sizes(job.job_id, job.train.batch_size, per_epoch, source)


def environment() -> dict[str, str]:
    import accelerate
    import numpy
    import torch_fidelity
    import torchvision

    return {
        "harness": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": numpy.__version__,
        "accelerate": accelerate.__version__,
        "torch_fidelity": torch_fidelity.__version__,
    }


def summarise(job: JobSpec, run: RunDir, proto: dict[str, Any] | None, device: str) -> dict[str, Any]:
    """final.json: the last epoch's scores plus totals, built from metrics.jsonl so it survives resumes."""
    records = run.metrics()
    scored = [r for r in records if any(k in r for k in SCORE_KEYS)]
    last = scored[-1] if scored else {}
    seconds = sum(r["seconds"] for r in records)
    images = sum(r["images_per_s"] * r["seconds"] for r in records)
    scores = {k: last[k] for k in (*SCORE_KEYS, "repeats") if k in last}
    return {
        "job_id": job.job_id,
        "seed": job.train.seed,
        "epochs": records[-1]["epoch"] if records else 0,
        **scores,
        "scored_epoch": last.get("epoch"),
        "train_seconds": seconds,
        "images_per_s": images / seconds if seconds else None,
        "protocol": proto,
        "device": device,
        "env": environment(),
    }


def final_samples(job: JobSpec, run: RunDir, num_classes: int) -> None:
    """At the end: a latent-interpolation strip, and for conditional archs a grid with one row per class."""
    G = build_generator(job, num_classes)
    checkpoint.load_generator(run, G, use_ema=job.train.ema > 0)
    seed, z_dim = job.train.seed, job.model.z_dim
    conditional = ARCHS.get(job.model.arch).conditional
    strip = samples.interpolation(G, z_dim, num_classes if conditional else 0, seed, torch.device("cpu"))
    samples.save_grid(run.samples_dir / "interpolation.png", strip, nrow=10)
    if conditional:
        samples.save_grid(run.samples_dir / "classes.png", samples.per_class(G, z_dim, num_classes, seed, "cpu"))


def _started(job: JobSpec, run: RunDir, processes: int, **extra) -> None:
    run.write_spec(job)
    run.set_status(RUNNING, started=time.time(), processes=processes, **extra)


def _finished(job, run: RunDir, data: ImageSet, proto, accelerator: Accelerator, resumed_from: int, **extra) -> None:
    """The end of a trained job: final samples, final.json, status done."""
    final_samples(job, run, len(data.class_names))
    final = summarise(job, run, proto, str(accelerator.device))
    run.write_final({**final, "processes": accelerator.num_processes, "resumed_from_epoch": resumed_from, **extra})
    run.set_status(DONE, finished=time.time())


def _ended_early(job: JobSpec, run: RunDir, e: Diverged | Interrupted) -> None:
    """A divergence is a result (final.json says where); an interruption leaves the job to resume."""
    if isinstance(e, Interrupted):
        run.set_status(INTERRUPTED, epoch=e.epoch, batch=e.batch, error=str(e))
        return
    where = {"epoch": e.epoch, "step": e.step, "reason": e.reason}
    run.write_final({"job_id": job.job_id, "seed": job.train.seed, "diverged": where, "env": environment()})
    run.set_status(DIVERGED, error=str(e), **where)


def _failed(run: RunDir, e: BaseException) -> None:
    """Recorded before the error goes on up: a harness error as its one line, anything else with its traceback;
    Ctrl-C leaves the job to resume."""
    if isinstance(e, KeyboardInterrupt):
        run.set_status(INTERRUPTED, error="interrupted; run again to resume from the last checkpoint")
    elif isinstance(e, HarnessError):
        run.set_status(FAILED, error=str(e))
    elif isinstance(e, Exception):
        run.set_status(FAILED, error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc())


def run_job(
    job: JobSpec,
    run: RunDir,
    accelerator: Accelerator,
    data_root: Path,
    progress: Progress | None = None,
    stop: StopRequest | None = None,
    trackers: tuple[str, ...] = (),
) -> str:
    """Run one job (below); a full disk or another file-system refusal, wherever it strikes (even while recording
    a failure or a divergence), becomes one DiskError line, recorded when the disk still takes it."""
    with _disk_errors([run] if accelerator.is_main_process else []):
        return _run_job(job, run, accelerator, data_root, progress, stop, trackers)


@contextlib.contextmanager
def _disk_errors(runs: list[RunDir]):
    try:
        yield
    except OSError as e:
        if (known := explain_os_error(e)) is None:
            raise
        for run in runs:
            if run.state in FINISHED:  # a lane that had ended before the disk filled keeps its result
                continue
            with contextlib.suppress(OSError):  # the disk may be too full to take even this
                run.set_status(FAILED, error=str(known))
        raise known from None


def _run_job(job, run, accelerator, data_root, progress, stop, trackers) -> str:
    """Train and score one job on every rank of `accelerator`; returns its final state. The main process alone
    writes records. A stop request ends in INTERRUPTED (resumable), a blow-up in DIVERGED (final, like DONE);
    failures are recorded, then re-raised."""
    if run.finished:
        return "skipped"
    main = accelerator.is_main_process
    if main:
        _started(job, run, accelerator.num_processes)
    try:
        data = load_dataset(job.data, data_root)
        check_batch(job, data)
        scorer, proto = make_scorer(job, data, data_root, accelerator) if job.eval.metrics else (None, None)
        if trackers:
            tracked = tracking.start(trackers, job.job_id, job.to_dict(), run)
            progress = tracking.Tracked(progress or NoProgress(), tracked, run)
        resumed_from = train(job, run, accelerator, sharpen(data, job.data.sharpen), scorer, progress, stop)
        if main:
            _finished(job, run, data, proto, accelerator, resumed_from)
        accelerator.wait_for_everyone()  # no rank exits (which ends the others) before rank 0 has written
        return DONE
    except (Diverged, Interrupted) as e:
        if main:
            _ended_early(job, run, e)
        accelerator.wait_for_everyone()
        return DIVERGED if isinstance(e, Diverged) else INTERRUPTED
    except BaseException as e:
        if main:
            _failed(run, e)
        raise
    finally:
        if isinstance(progress, tracking.Tracked):
            progress.finish()


def run_lanes(
    jobs: list[JobSpec], runs: list[RunDir], accelerator: Accelerator, data_root: Path, progress=None, stop=None
) -> list[str | Exception]:
    """Train jobs that differ only in their seed as lanes of one batched model (harness/train/lanes.py), each recorded
    in its own run directory as a separate job would be; returns their final states. Raises lanes.Unbatchable (the
    caller runs them separately) when they cannot train together. A lane that fails on its own (writing its results)
    gives its recorded error in place of a state."""
    with _disk_errors(runs):
        return _run_lanes(jobs, runs, accelerator, data_root, progress, stop)


def _run_lanes(jobs, runs, accelerator, data_root, progress, stop) -> list[str | Exception]:
    for job, run in zip(jobs, runs, strict=True):
        _started(job, run, accelerator.num_processes, lanes=len(jobs))
    try:
        data = load_dataset(jobs[0].data, data_root)
        check_batch(jobs[0], data)
        made = [make_scorer(job, data, data_root, accelerator) if job.eval.metrics else (None, None) for job in jobs]
        scorers, protos = [sc for sc, _ in made], [proto for _, proto in made]
        sharp = sharpen(data, jobs[0].data.sharpen)
        ended = train_lanes(jobs, runs, accelerator, sharp, scorers, progress, stop, _record_divergence)
        return [_conclude(lane, data, proto, accelerator, len(jobs)) for lane, proto in zip(ended, protos, strict=True)]
    except Unbatchable:
        raise
    except BaseException as e:
        for run in runs:
            if run.state == RUNNING:  # lanes already ended (diverged, concluded) keep their own record
                _failed(run, e)
        raise


def _record_divergence(lane) -> None:
    """A lane's divergence, recorded as it happens: the other lanes train on."""
    _ended_early(lane.job, lane.run, lane.outcome)


def _conclude(lane, data: ImageSet, proto, accelerator: Accelerator, k: int) -> str | Exception:
    """A lane's end, in its own run directory; its state, or the error (recorded) that stopped this lane alone."""
    try:
        if lane.outcome is None:
            _finished(lane.job, lane.run, data, proto, accelerator, lane.at.epoch, lanes=k)
            return DONE
        if isinstance(lane.outcome, Interrupted):
            _ended_early(lane.job, lane.run, lane.outcome)
            return INTERRUPTED
        return DIVERGED  # recorded as it diverged
    except Exception as e:
        error = (explain_os_error(e) if isinstance(e, OSError) else None) or e
        with contextlib.suppress(OSError):  # a full disk may not take even this
            _failed(lane.run, error)
        return error
