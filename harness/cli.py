"""The `harness` command: parse arguments, call one library function, print. No logic lives here."""

import logging
import os
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from harness.core.errors import ConfigError, Damaged, HarnessError, explain_os_error
from harness.launch.signals import by_ctrl_c

app = typer.Typer(
    help="Benchmark GAN image generators: expand a suite, train and score its jobs, report the results.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish and PowerShell
    pretty_exceptions_enable=False,
)
out = Console() if sys.stdout.isatty() else Console(width=160)  # pipes and logs keep whole job ids
err = Console(stderr=True, soft_wrap=True)


def _version(value: bool) -> None:
    if value:
        from harness import __version__

        typer.echo(f"harness {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Benchmark GAN image generators: expand a suite, train and score its jobs, report the results."""


SuiteArg = Annotated[Path, typer.Argument(help="Suite YAML file, e.g. suites/smoke.yaml.")]
OnlyOpt = Annotated[str | None, typer.Option("--only", help="Glob over job ids, e.g. 'dcgan*cats*32*'.")]
ResultsOpt = Annotated[Path, typer.Option("--results", help="Results root; jobs go to RESULTS/<suite>/<job_id>/.")]
ProtocolOpt = Annotated[str, typer.Option("--protocol", help="A named protocol (see `harness refs protocols`).")]
DataRootOpt = Annotated[
    Path | None, typer.Option("--data-root", help="Dataset folder [default: $HARNESS_DATA or ~/.cache/harness/data].")
]


SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        help="Change the suite before it is checked: a dotted key into it and a YAML value, e.g. defaults.lr_g=1e-4, "
        "'matrix.seed=[0,1,2]', eval.protocol=fid10k-test (repeat for several).",
    ),
]


def _resolved(suite, results: Path):
    """With --set: the suite as run, written once under its results folder; the jobs' processes load that file."""
    import dataclasses

    from harness.store.runs import write_resolved

    if not suite.sets:
        return suite
    path = write_resolved(results, suite.name, suite.resolved)
    err.print(f"suite as run: {path}", highlight=False, markup=False)
    return dataclasses.replace(suite, path=path.resolve())


def _jobs(suite_path: Path, only: str | None, sets: list[str] | None = None):
    from harness.plan.suite import load_suite, select

    suite = load_suite(suite_path, sets or ())
    return suite, select(suite.jobs, only)


PLAN_COLUMNS = ("job id", "arch", "dataset", "classes", "res", "epochs", "seed", "batch", "n_samples", "state")
TABLE_ROWS = 500  # a longer plan prints as plain aligned lines: rich lays out 10^4 table rows in 20 s
VARIANT_JOBS = 20_000  # the sweep columns of a plan this long or shorter (a plan of 10^5 jobs stays quick)


@app.command()
def plan(
    suite_path: SuiteArg, only: OnlyOpt = None, results: ResultsOpt = Path("results"), sets: SetOpt = None
) -> None:
    """Show the job matrix a suite expands to, with each job's state in the results folder and a column for each
    setting its jobs differ in (a sweep's axes)."""
    from harness.report.aggregate import varying
    from harness.store.runs import PENDING, job_dir, run_folders, state_of

    suite, jobs = _jobs(suite_path, only, sets)
    folders = run_folders(results, suite.name)  # a job without a folder is pending: nothing to read
    swept = varying(jobs) if len(jobs) <= VARIANT_JOBS else {}
    rows = []
    for i, j in enumerate(jobs):
        state = state_of(job_dir(results, suite.name, j.job_id)) if j.job_id in folders else PENDING
        cells = (j.data.resolution, j.train.epochs, j.train.seed, j.train.batch_size, j.eval.n_samples)
        row = (j.job_id, j.model.arch, j.data.label, "+".join(j.data.classes) or "all", *map(str, cells))
        rows.append((*row, *(values[i] for values in swept.values()), state))
    title = f"{suite.name}: {len(jobs)} jobs"
    columns = (*PLAN_COLUMNS[:-1], *swept, PLAN_COLUMNS[-1])
    if len(rows) > TABLE_ROWS:
        typer.echo("\n".join([title, *_aligned([columns, *rows])]))
        return
    table = Table(*columns, title=title, title_justify="left")
    for row in rows:
        table.add_row(*row)
    out.print(table)


def _aligned(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(map(len, column)) for column in zip(*rows, strict=True)]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]


DeviceOpt = Annotated[str, typer.Option(help="auto (a GPU if there is one), cpu or cuda.")]
ThreadsOpt = Annotated[
    int | None, typer.Option("--threads", help="CPU threads per job process [default: all cores, shared when packing].")
]


def _where(results: Path, data_root: Path | None, device: str, threads: int | None):
    from harness.core.paths import data_root as resolve_data_root
    from harness.launch.processes import Where
    from harness.train.distributed import check_device

    check_device(device)  # here too, so a typo fails even when every job is already done
    if threads is not None and threads < 1:
        raise ConfigError("--threads must be ≥ 1")
    return Where(results.resolve(), resolve_data_root(data_root).resolve(), device, threads)


def _lane_notes(pending, trackers) -> dict:
    """For --dry-run --seed-batch: each pending job's place among lanes, or why its seeds train one by one."""
    from harness.train import lanes

    notes = {}
    for group, why in lanes.plan(pending, trackers):
        for k, job in enumerate(group):
            notes[job] = f"  (alone: {why})" if why else f"  (lane {k + 1} of {len(group)})"
    return notes


@app.command()
def run(
    suite_path: SuiteArg,
    only: OnlyOpt = None,
    results: ResultsOpt = Path("results"),
    device: DeviceOpt = "auto",
    data_root: DataRootOpt = None,
    jobs_per_gpu: Annotated[
        int,
        typer.Option("--jobs-per-gpu", help="Run K single-process jobs at once on the device, each its own process."),
    ] = 1,
    threads: ThreadsOpt = None,
    seed_batch: Annotated[
        bool,
        typer.Option(
            "--seed-batch",
            help="Train the jobs that differ only in their seed as lanes of one batched model (one process per "
            "group; with --jobs-per-gpu K, K groups at once); each keeps its own run directory and results.",
        ),
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would run, train nothing.")] = False,
    sets: SetOpt = None,
) -> None:
    """Train and score every job of a suite that is not done yet (interrupted jobs resume). With --set, the suite
    as run is kept as RESULTS/<suite>/suite.resolved.<hash>.yaml, and the job processes read that file."""
    from harness.launch.local import run_suite
    from harness.store.runs import DAMAGED, FINISHED, job_dir, run_folders, state_of

    suite, jobs = _jobs(suite_path, only, sets)
    if dry_run:
        folders = run_folders(results, suite.name)
        states = {j.job_id: state_of(job_dir(results, suite.name, j.job_id)) for j in jobs if j.job_id in folders}
        pending = [j for j in jobs if states.get(j.job_id) not in (*FINISHED, DAMAGED)]
        how = _lane_notes(pending, suite.trackers) if seed_batch else {}
        how |= {j: "  (damaged: `harness status` names the file)" for j in jobs if states.get(j.job_id) == DAMAGED}
        waiting = {j.job_id for j in pending}
        typer.echo("\n".join(f"{'run ' if j.job_id in waiting else 'skip'}  {j.job_id}{how.get(j, '')}" for j in jobs))
        return
    if jobs_per_gpu < 1:
        raise ConfigError("--jobs-per-gpu must be ≥ 1")
    suite = _resolved(suite, results)
    outcome = run_suite(suite, jobs, _where(results, data_root, device, threads), jobs_per_gpu, seed_batch)
    out.print(
        f"{suite.name}: {len(outcome.done)} done, {len(outcome.skipped)} skipped (already finished), "
        f"{len(outcome.failed)} failed"
        + (f", {len(outcome.diverged)} diverged" if outcome.diverged else "")
        + (f", {len(outcome.busy)} running in another process" if outcome.busy else "")
        + (f", {len(outcome.interrupted)} interrupted" if outcome.interrupted else "")
        + (f", {len(outcome.not_started)} not started" if outcome.not_started else "")
        + (f", {len(outcome.damaged)} damaged (not run)" if outcome.damaged else "")
        + f" → {results / suite.name}",
        highlight=False,
    )
    for job_id, error in outcome.failed:
        err.print(f"failed {job_id}: {error}", markup=False, highlight=False)
    for job_id, error in outcome.damaged:
        err.print(f"damaged {job_id}: {error}", markup=False, highlight=False)
    if outcome.interrupted or outcome.not_started:
        err.print("interrupted: run the same command again to resume from the checkpoints", highlight=False)
        raise typer.Exit(130)
    if outcome.failed or outcome.damaged:
        raise typer.Exit(1)


@app.command("run-job")
def run_job(
    suite_path: SuiteArg,
    index: Annotated[int | None, typer.Option("--index", help="The job's position in `harness plan` (from 0).")] = None,
    job_id: Annotated[
        str | None,
        typer.Option("--job-id", help="The job's id; several, comma-separated, for seeds of one config as lanes."),
    ] = None,
    results: ResultsOpt = Path("results"),
    device: DeviceOpt = "auto",
    data_root: DataRootOpt = None,
    threads: ThreadsOpt = None,
) -> None:
    """Run ONE job of a suite (what a SLURM array task runs), or seeds of one configuration as lanes of one model
    (--job-id A,B,...); idempotent. Exit 0: done, diverged or already finished; 73: held by another process; 75:
    stopped on a signal after checkpointing (run again to resume); 1: failed; 2: bad input."""
    from harness.launch.local import run_group, run_one
    from harness.plan.suite import load_suite, pick

    suite = load_suite(suite_path)
    where = _where(results, data_root, device, threads)
    ids = job_id.split(",") if job_id is not None else [None]
    jobs = [pick(suite, index, one) for one in ids]
    raise typer.Exit(run_one(suite, jobs[0], where) if len(jobs) == 1 else run_group(suite, jobs, where))


@app.command()
def submit(
    suite_path: SuiteArg,
    only: OnlyOpt = None,
    results: ResultsOpt = Path("results"),
    data_root: DataRootOpt = None,
    device: DeviceOpt = "auto",
    partition: Annotated[
        str | None, typer.Option(help="SLURM partition [default: the suite's, or the cluster's].")
    ] = None,
    time_limit: Annotated[
        str | None, typer.Option("--time", help="Time limit of each array task [default: the suite's, or 24:00:00].")
    ] = None,
    gpus_per_task: Annotated[
        int | None,
        typer.Option(
            "--gpus-per-task",
            help="GPUs per array task (per node for jobs spanning nodes); 0: CPUs [default: the suite's, or 1].",
        ),
    ] = None,
    cpus_per_task: Annotated[
        int | None, typer.Option("--cpus-per-task", help="CPUs per array task [default: the suite's, or 4].")
    ] = None,
    mem: Annotated[str | None, typer.Option(help="Memory per node, e.g. 32G [default: the suite's].")] = None,
    account: Annotated[str | None, typer.Option(help="SLURM account [default: the suite's].")] = None,
    max_concurrent: Annotated[
        int | None, typer.Option("--max-concurrent", help="Array tasks running at once (--array=...%K).")
    ] = None,
    jobs_per_gpu: Annotated[
        int, typer.Option("--jobs-per-gpu", help="Single-process jobs (or groups of lanes) packed per task.")
    ] = 1,
    seed_batch: Annotated[
        bool,
        typer.Option("--seed-batch", help="One task trains a configuration's pending seeds as lanes of one model."),
    ] = False,
    signal_seconds: Annotated[
        int, typer.Option("--signal-seconds", help="USR1 this many seconds before the limit: checkpoint, requeue.")
    ] = 120,
    template: Annotated[Path | None, typer.Option(help="sbatch template [default: slurm/array.sbatch].")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the script(s), submit nothing.")] = False,
    sets: SetOpt = None,
) -> None:
    """Submit the suite's pending jobs as SLURM job arrays: one task per job (with --seed-batch, per
    configuration's pending seeds as lanes), or per K packed units. Jobs that are
    done, or already queued by an earlier submit, are left out. Resources: these options, else the suite's `slurm:`."""
    from harness.core.paths import data_root as resolve_data_root
    from harness.launch import slurm
    from harness.launch.processes import Where
    from harness.train.distributed import check_device

    check_device(device, here=False)  # the jobs run on the cluster's nodes, not on this login node
    suite, jobs = _jobs(suite_path, only, sets)
    suite = suite if dry_run else _resolved(suite, results)  # the array tasks read the suite as resolved
    where = Where(results.resolve(), resolve_data_root(data_root).resolve(), device)
    options = slurm.options(
        suite.slurm, partition=partition, time=time_limit, gpus_per_task=gpus_per_task, cpus_per_task=cpus_per_task,
        mem=mem, account=account, max_concurrent=max_concurrent, jobs_per_gpu=jobs_per_gpu,
        signal_seconds=signal_seconds,
    )  # fmt: skip
    arrays = slurm.arrays(suite.name, suite.path, jobs, where, seed_batch, suite.trackers)
    if not arrays:
        out.print(f"{suite.name}: nothing to submit (every job is done or queued)", highlight=False)
        return
    text = slurm.read_template(template)
    for array in arrays:
        script = slurm.render(array, options, where, sys.executable, Path.cwd(), text)
        if dry_run:
            out.print(script, markup=False, highlight=False, soft_wrap=True, end="")
            continue
        array_id = slurm.submit(array, options, where, script)
        out.print(
            f"submitted array {array_id}: {len(array.job_ids)} jobs in {array.tasks(options)} tasks"
            + (f" ({len(array.units)} units: seeds as lanes)" if array.units else "")
            + " "
            f"→ logs in {where.results / suite.name / 'slurm'}",
            highlight=False,
        )


@app.command()
def report(
    results_dir: Annotated[Path, typer.Argument(help="A suite's results folder (or a root holding several suites).")],
    out_dir: Annotated[Path | None, typer.Option("--out", help="Where to write [default: RESULTS_DIR].")] = None,
    metric: Annotated[list[str] | None, typer.Option("--metric", help="fid, kid or is (repeat for several).")] = None,
    group_by: Annotated[
        str | None, typer.Option("--group-by", help="Columns to group by, e.g. 'variant' or 'arch,dataset'.")
    ] = None,
    where: Annotated[
        list[str] | None, typer.Option("--where", help="Keep rows with COLUMN=V1[,V2...] (repeat to combine).")
    ] = None,
    compare: Annotated[
        tuple[str, str] | None,
        typer.Option(
            "--compare",
            metavar="A B",
            help="Compare two configurations, each COLUMN=VALUE[ COLUMN=VALUE...] (quoted), e.g. arch=dcgan "
            "'arch=sngan variant=default': the difference, its 95% CI and Welch's p, per metric.",
        ),
    ] = None,
    detect: Annotated[
        float | None,
        typer.Option("--detect", help="Size the seeds-needed lines for this difference [default: best vs runner-up]."),
    ] = None,
) -> None:
    """Aggregate finished jobs into summary.md (headline tables per protocol, comparisons), headline.tex, CSVs,
    plots and report.html. With --metric / --group-by / --where, also print that cut as Markdown tables; with
    --compare A B, print A against B."""
    from harness.report.aggregate import jobs_frame
    from harness.report.tables import METRICS, ROWS, markdown, summarise
    from harness.report.writer import write_report
    from harness.store.runs import read_runs

    if detect is not None and not detect > 0:
        raise ConfigError(f"--detect {detect}: give a positive difference, e.g. --detect 2")
    if compare:  # checked before anything is written
        a, b = (_selector(side) for side in compare)
    written, damaged = write_report(results_dir, out_dir, detect)
    for path in written:
        out.print(f"wrote {path}", highlight=False)
    for run, e in damaged:
        err.print(f"damaged {run.path.name} (left out of the tables): {e}", markup=False, highlight=False)
    if compare:
        _print_answer(jobs_frame(read_runs(results_dir)[0]), compare, a, b, metric, _filters(where or []))
    elif metric or group_by or where:
        rows = [c.strip() for c in group_by.split(",")] if group_by else ROWS
        tables = summarise(jobs_frame(read_runs(results_dir)[0]), rows, metric or list(METRICS), _filters(where or []))
        if not tables:
            err.print("no finished job matches --where", highlight=False)
        for protocol, table in tables.items():
            out.print("\n" + markdown(table, protocol), markup=False, highlight=False)


def _selector(text: str) -> dict[str, list[str]]:
    parts = text.split()
    if not parts:
        raise ConfigError("--compare: each side is COLUMN=VALUE[ COLUMN=VALUE...], e.g. arch=dcgan")
    return _filters(parts, "--compare")


def _print_answer(jobs, names: tuple[str, str], a: dict, b: dict, metric: list[str] | None, where: dict) -> None:
    from harness.report.compare import METRICS, answer
    from harness.report.tables import answer_frame

    found = answer(jobs, a, b, metric or list(METRICS), where)
    if not found:
        raise ConfigError(
            f"--compare: no protocol and dataset where both {names[0]!r} and {names[1]!r} have finished seeds"
        )
    for group in dict.fromkeys(f.group for f in found):
        here = [f for f in found if f.group == group]
        text = f"\n{group}\n" + "\n".join(f.sentence(*names) for f in here)
        text += "\n\n" + answer_frame(here, *names).to_markdown(index=False)
        out.print(text, markup=False, highlight=False, soft_wrap=True)


def _filters(where: list[str], option: str = "--where") -> dict[str, list[str]]:
    filters = {}
    for item in where:
        column, sep, values = item.partition("=")
        if not sep or not column or not values:
            raise ConfigError(f"{option} {item!r}: use COLUMN=VALUE[,VALUE...], e.g. dataset=cifar10")
        filters[column.strip()] = [v.strip() for v in values.split(",")]
    return filters


@app.command()
def status(suite_path: SuiteArg, results: ResultsOpt = Path("results"), sets: SetOpt = None) -> None:
    """Counts of pending / running / stale / interrupted / done / failed / diverged / damaged jobs, the jobs not done,
    and the state of the suite's SLURM arrays."""
    from harness.launch.processes import Where
    from harness.launch.slurm import array_summary
    from harness.plan.status import ORDER, suite_status
    from harness.plan.suite import load_suite

    suite = load_suite(suite_path, sets or ())
    counts, states = suite_status(suite, results)
    out.print(f"{suite.name}: " + ", ".join(f"{counts.get(k, 0)} {k}" for k in ORDER), highlight=False)
    lines = [f"  {s.state:11} {s.job_id}  {s.detail}" for s in states if s.state != "done"]
    if lines:  # in one print: a call costs rich 70 µs, 7 s for the pending jobs of a 10^5-job suite
        out.print("\n".join(lines), markup=False, highlight=False, soft_wrap=True)
    for line in array_summary(Where(results.resolve(), Path()), suite.name):
        out.print(line, highlight=False)


@app.command()
def score(
    target: Annotated[Path, typer.Argument(help="A job's run folder, or a suite's results folder (every job in it).")],
    protocol: ProtocolOpt = "fid10k-train",
    checkpoint: Annotated[str, typer.Option(help="'latest', or a scored epoch (its snapshot).")] = "latest",
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    data_root: DataRootOpt = None,
) -> None:
    """Re-score stored generators under another protocol, without retraining; appends to each job's scores.jsonl."""
    from harness.core.paths import data_root as resolve_data_root
    from harness.eval.scoring import rescore_all
    from harness.store.records import SCORE_KEYS
    from harness.train.distributed import check_device

    check_device(device, ("cpu", "cuda"))
    epoch = None if checkpoint == "latest" else _epoch(checkpoint)
    damaged = 0
    for job_id, record in rescore_all(target, protocol, resolve_data_root(data_root), device, epoch):
        if isinstance(record, HarnessError):
            why = "damaged" if isinstance(record, Damaged) else "skipped"
            err.print(f"{why} {job_id} (not scored): {record}", markup=False, highlight=False)
            damaged += 1
            continue
        scores = "  ".join(f"{k} {record[k]:.4g}" for k in SCORE_KEYS if k in record and not k.endswith("_std"))
        line = f"{job_id} epoch {record['epoch']} [{record['protocol']['name']}]: {scores}"
        out.print(line, markup=False, highlight=False)
    if damaged:
        raise typer.Exit(1)


def _epoch(text: str) -> int:
    if not text.isdigit():
        raise ConfigError(f"--checkpoint {text!r}: use 'latest' or an epoch number")
    return int(text)


refs_app = typer.Typer(help="Cached reference statistics: list, build, clear.", no_args_is_help=True)
app.add_typer(refs_app, name="refs")


@refs_app.command("list")
def refs_list() -> None:
    """The reference features cached so far, with their size."""
    from harness.plan.references import cached_references

    table = Table(title="cached references", title_justify="left")
    for col in ("key", "files", "MB", "written"):
        table.add_column(col)
    for ref in cached_references():
        table.add_row(ref.key, str(ref.files), f"{ref.bytes / 1e6:.1f}", ref.written)
    out.print(table)


@refs_app.command("build")
def refs_build(
    suite_path: SuiteArg, protocol: Annotated[str | None, typer.Option(help="Override the suite's protocol.")] = None,
    data_root: DataRootOpt = None, device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
) -> None:  # fmt: skip
    """Compute the reference features every job of a suite needs (no training)."""
    from harness.core.paths import data_root as resolve_data_root
    from harness.plan.references import build_references
    from harness.plan.suite import load_suite
    from harness.train.distributed import check_device

    check_device(device, ("cpu", "cuda"))
    for key, state in build_references(load_suite(suite_path), protocol, resolve_data_root(data_root), device):
        out.print(f"{state}: {key}", highlight=False)


@refs_app.command("clear")
def refs_clear(pattern: Annotated[str, typer.Argument(help="Glob over keys.")] = "*") -> None:
    """Delete cached reference features whose key matches PATTERN."""
    from harness.plan.references import clear_references

    out.print(f"removed {clear_references(pattern)} files", highlight=False)


@refs_app.command("protocols")
def refs_protocols() -> None:
    """The named scoring protocols a suite's `eval: {protocol: ...}` or `harness score --protocol` can use."""
    from harness.config.protocols import DEFAULT, FIELDS, PRESETS

    table = Table(title=f"protocols (default: {DEFAULT})", title_justify="left")
    for col in ("name", *FIELDS):
        table.add_column(col)
    for name in PRESETS:
        table.add_row(name, *(str(PRESETS.get(name)[k]) for k in FIELDS))
    out.print(table)


def main() -> None:
    """Entry point: user errors become one line and an exit code, never a traceback."""
    os.environ.setdefault("PYTHONWARNINGS", "ignore::FutureWarning")
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("harness").setLevel(logging.INFO)
    try:
        app()
    except (KeyboardInterrupt, SystemExit) as e:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # exiting: one more Ctrl-C must not cut this short
        if not by_ctrl_c(e):
            raise
        err.print("interrupted: run the same command again to resume", highlight=False)
        sys.exit(130)
    except Exception as e:
        # A full disk or an unwritable folder is the user's to fix, like bad input; any other exception is a bug:
        # say so in one line (HARNESS_DEBUG=1 shows the traceback).
        known = e if isinstance(e, HarnessError) else explain_os_error(e) if isinstance(e, OSError) else None
        if known is not None:
            err.print(f"error: {' '.join(str(known).splitlines())}", markup=False, highlight=False)
            sys.exit(known.exit_code)
        if os.environ.get("HARNESS_DEBUG"):
            raise
        first = str(e).splitlines()[0][:300] if str(e) else ""
        err.print(
            f"internal error: {type(e).__name__}: {first} (HARNESS_DEBUG=1 shows the traceback)",
            markup=False,
            highlight=False,
        )
        sys.exit(1)
    finally:  # nothing is left to stop: a Ctrl-C now would only print a traceback from the interpreter's shutdown
        signal.signal(signal.SIGINT, signal.SIG_IGN)


if __name__ == "__main__":
    main()
