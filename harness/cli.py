"""The `harness` command: parse arguments, call one library function, print. No logic lives here."""

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
    data_root: Annotated[
        Path | None,
        typer.Option("--data-root", help="Dataset folder [default: $HARNESS_DATA or ~/.cache/harness/data]."),
    ] = None,
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


def main() -> None:
    """Entry point: user errors become one line and an exit code, never a traceback."""
    os.environ.setdefault("PYTHONWARNINGS", "ignore::FutureWarning")
    try:
        app()
    except HarnessError as e:
        err.print(f"error: {e}", highlight=False)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        err.print("interrupted: run the same command again to resume", highlight=False)
        sys.exit(130)


if __name__ == "__main__":
    main()
