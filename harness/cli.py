"""The `harness` command: parse arguments, call one library function, print. No logic lives here."""

import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from harness.errors import HarnessError

app = typer.Typer(
    help="Benchmark GAN image generators: expand a suite, train and score its jobs, report the results.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console() if sys.stdout.isatty() else Console(width=160)  # pipes and logs keep whole job ids
err = Console(stderr=True, soft_wrap=True)

SuiteArg = Annotated[Path, typer.Argument(help="Suite YAML file, e.g. suites/smoke.yaml.")]
OnlyOpt = Annotated[str | None, typer.Option("--only", help="Glob over job ids, e.g. 'dcgan*cats*32*'.")]
ResultsOpt = Annotated[Path, typer.Option("--results", help="Results root; jobs go to RESULTS/<suite>/<job_id>/.")]
ProtocolOpt = Annotated[str, typer.Option("--protocol", help="A named protocol (see `harness refs protocols`).")]
DataRootOpt = Annotated[
    Path | None, typer.Option("--data-root", help="Dataset folder [default: $HARNESS_DATA or ~/.cache/harness/data].")
]


def _jobs(suite_path: Path, only: str | None):
    from harness.suite import load_suite, select

    suite = load_suite(suite_path)
    return suite, select(suite.jobs, only)


@app.command()
def plan(suite_path: SuiteArg, only: OnlyOpt = None, results: ResultsOpt = Path("results")) -> None:
    """Show the job matrix a suite expands to, with each job's state in the results folder."""
    from harness.store import job_dir

    suite, jobs = _jobs(suite_path, only)
    table = Table(title=f"{suite.name}: {len(jobs)} jobs", title_justify="left")
    for col in ("job id", "arch", "dataset", "classes", "res", "epochs", "seed", "batch", "n_samples", "state"):
        table.add_column(col)
    for j in jobs:
        state = job_dir(results, suite.name, j.job_id).state
        cells = (j.data.resolution, j.train.epochs, j.train.seed, j.train.batch_size, j.eval.n_samples)
        table.add_row(j.job_id, j.model.arch, j.data.label, "+".join(j.data.classes) or "all", *map(str, cells), state)
    out.print(table)


@app.command()
def run(
    suite_path: SuiteArg,
    only: OnlyOpt = None,
    results: ResultsOpt = Path("results"),
    device: Annotated[str, typer.Option(help="auto (a GPU if there is one), cpu or cuda.")] = "auto",
    data_root: DataRootOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would run, train nothing.")] = False,
) -> None:
    """Train and score every job of a suite that is not done yet (interrupted jobs resume)."""
    from harness.launch.local import run_suite
    from harness.paths import data_root as resolve_data_root
    from harness.store import DONE, job_dir

    suite, jobs = _jobs(suite_path, only)
    if dry_run:
        for j in jobs:
            done = job_dir(results, suite.name, j.job_id).state == DONE
            out.print(f"{'skip' if done else 'run '}  {j.job_id}", highlight=False)
        return
    outcome = run_suite(suite, jobs, results, device, resolve_data_root(data_root))
    out.print(
        f"{suite.name}: {len(outcome.done)} done, {len(outcome.skipped)} skipped (already done), "
        f"{len(outcome.failed)} failed → {results / suite.name}",
        highlight=False,
    )
    for job_id, error in outcome.failed:
        err.print(f"failed {job_id}: {error}", highlight=False)
    if outcome.failed:
        raise typer.Exit(1)


@app.command()
def report(
    results_dir: Annotated[Path, typer.Argument(help="A suite's results folder (or a root holding several suites).")],
    out_dir: Annotated[Path | None, typer.Option("--out", help="Where to write [default: RESULTS_DIR].")] = None,
) -> None:
    """Aggregate finished jobs into summary.csv, summary.md and plots."""
    from harness.report import write_report

    for path in write_report(results_dir, out_dir):
        out.print(f"wrote {path}", highlight=False)


@app.command()
def status(suite_path: SuiteArg, results: ResultsOpt = Path("results")) -> None:
    """Counts of pending / running / stale / done / failed jobs, and the jobs not done."""
    from harness.status import suite_status
    from harness.suite import load_suite

    suite = load_suite(suite_path)
    counts, states = suite_status(suite, results)
    order = ("done", "running", "stale", "failed", "pending")
    out.print(f"{suite.name}: " + ", ".join(f"{counts.get(k, 0)} {k}" for k in order), highlight=False)
    for s in states:
        if s.state != "done":
            out.print(f"  {s.state:8} {s.job_id}  {s.detail}", markup=False, highlight=False)


@app.command()
def score(
    target: Annotated[Path, typer.Argument(help="A job's run folder, or a suite's results folder (every job in it).")],
    protocol: ProtocolOpt = "fid10k-train",
    checkpoint: Annotated[str, typer.Option(help="'latest', or a scored epoch (its snapshot).")] = "latest",
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    data_root: DataRootOpt = None,
) -> None:
    """Re-score stored generators under another protocol, without retraining; appends to each job's scores.jsonl."""
    from harness.launch.local import rescore_all
    from harness.paths import data_root as resolve_data_root

    epoch = None if checkpoint == "latest" else _epoch(checkpoint)
    for job_id, record in rescore_all(target, protocol, resolve_data_root(data_root), device, epoch):
        scores = "  ".join(f"{k} {record[k]:.4g}" for k in ("fid", "kid", "is", "precision", "recall") if k in record)
        line = f"{job_id} epoch {record['epoch']} [{record['protocol']['name']}]: {scores}"
        out.print(line, markup=False, highlight=False)


def _epoch(text: str) -> int:
    if not text.isdigit():
        raise typer.BadParameter(f"{text!r}: use 'latest' or an epoch number")
    return int(text)


refs_app = typer.Typer(help="Cached reference statistics: list, build, clear.", no_args_is_help=True)
app.add_typer(refs_app, name="refs")


@refs_app.command("list")
def refs_list() -> None:
    """The reference features cached so far, with their size."""
    from harness.references import cached_references

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
    from harness.paths import data_root as resolve_data_root
    from harness.references import build_references
    from harness.suite import load_suite

    for key, state in build_references(load_suite(suite_path), protocol, resolve_data_root(data_root), device):
        out.print(f"{state}: {key}", highlight=False)


@refs_app.command("clear")
def refs_clear(pattern: Annotated[str, typer.Argument(help="Glob over keys.")] = "*") -> None:
    """Delete cached reference features whose key matches PATTERN."""
    from harness.references import clear_references

    out.print(f"removed {clear_references(pattern)} files", highlight=False)


@refs_app.command("protocols")
def refs_protocols() -> None:
    """The named scoring protocols a suite's `eval: {protocol: ...}` or `harness score --protocol` can use."""
    from harness.protocols import DEFAULT, FIELDS, PRESETS

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
    except HarnessError as e:
        err.print(f"error: {e}", highlight=False)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        err.print("interrupted: run the same command again to resume", highlight=False)
        sys.exit(130)
    except Exception as e:  # a bug, not bad input: say so in one line; HARNESS_DEBUG=1 shows the traceback
        if os.environ.get("HARNESS_DEBUG"):
            raise
        first = str(e).splitlines()[0][:300] if str(e) else ""
        err.print(f"internal error: {type(e).__name__}: {first} (HARNESS_DEBUG=1 shows the traceback)", highlight=False)
        sys.exit(1)


if __name__ == "__main__":
    main()
