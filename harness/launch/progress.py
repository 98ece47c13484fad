"""What a person sees while a suite runs: rich progress bars on a terminal, plain log lines elsewhere (SLURM logs)."""

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


def describe(record: dict[str, Any]) -> str:
    parts = [f"epoch {record['epoch']}"] + [f"{k} {record[k]:.3f}" for k in ("d_loss", "g_loss") if k in record]
    parts.append(f"{record['images_per_s']:.0f} img/s")
    parts += [f"{k} {record[k]:.4g}" for k in ("fid", "kid", "is") if k in record]
    return "  ".join(parts)


class SuiteProgress:
    """Implements the trainer's Progress for one job at a time, plus a bar over the suite's jobs."""

    def __init__(self, total_jobs: int, console: Console | None = None, quiet: bool = False):
        self.console = console or Console(stderr=True, soft_wrap=True, quiet=quiet)  # quiet: a rank other than 0
        self.live = self.console.is_terminal and not quiet
        self.bars = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            disable=not self.live,
        )
        self.jobs = self.bars.add_task("jobs", total=total_jobs)
        self.epoch_task = None
        self.job_id, self.epochs = "", 0

    def __enter__(self) -> "SuiteProgress":
        self.bars.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.bars.__exit__(*exc)

    def job_started(self, job_id: str, epochs: int) -> None:
        if self.epoch_task is not None:
            self.bars.remove_task(self.epoch_task)
        self.job_id, self.epochs, self.epoch_task = job_id, epochs, None
        self.log(f"[bold]{job_id}[/bold]: training {epochs} epochs")

    def job_ended(self, job_id: str, state: str) -> None:
        self.bars.advance(self.jobs)
        self.log(f"{job_id}: {state}")

    def log(self, text: str) -> None:
        self.console.print(text, highlight=False)

    def epoch_started(self, epoch: int, steps: int) -> None:
        if self.epoch_task is not None:
            self.bars.remove_task(self.epoch_task)
        elif epoch > 1:
            self.log(f"  resuming from the checkpoint of epoch {epoch - 1}")
        self.epoch_task = self.bars.add_task(f"{self.job_id} epoch {epoch}/{self.epochs}", total=steps)

    def step(self) -> None:
        self.bars.advance(self.epoch_task)

    def epoch_ended(self, record: dict[str, Any]) -> None:
        self.log(f"  {describe(record)}")
