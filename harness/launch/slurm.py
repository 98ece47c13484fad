"""SLURM job arrays: render the sbatch script (a pure function of its inputs), submit it, and ask SLURM how the
arrays of a suite stand. One array task runs one unit through `harness run-job`: a job, or with seed_batch the
seeds of one configuration as lanes of one model (or K packed units)."""

import logging
import re
import shlex
import shutil
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.config.specs import JobSpec, is_safe_name, is_slurm_word
from harness.core import atomic
from harness.core.errors import ConfigError, HarnessError
from harness.launch.processes import Where
from harness.store.runs import DAMAGED, FINISHED, append_jsonl, job_dir, read_jsonl, run_folders, state_of
from harness.train import lanes

log = logging.getLogger(__name__)

TEMPLATE = Path(__file__).resolve().parents[2] / "slurm" / "array.sbatch"
PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


@dataclass(frozen=True)
class SbatchOptions:
    partition: str | None = None
    time: str = "24:00:00"
    gpus_per_task: int = 1  # GPUs per array task (per node when a job spans nodes); 0 on a CPU-only cluster
    cpus_per_task: int = 4
    mem: str | None = None
    account: str | None = None
    max_concurrent: int | None = None  # array tasks running at once (%K)
    jobs_per_gpu: int = 1  # single-rank jobs packed into one array task, sharing its GPU
    signal_seconds: int = 120  # USR1 this long before the time limit: checkpoint and requeue
    max_requeues: int = 20  # a task that keeps stopping (or keeps failing to start) is not requeued forever


@dataclass(frozen=True)
class Array:
    """One sbatch script: jobs of one suite that need the same resources (their number of processes)."""

    suite_name: str
    suite_path: Path
    job_ids: tuple[str, ...]
    processes: int
    units: tuple[tuple[str, ...], ...] = ()  # what each process trains (seeds as lanes); () : each job alone

    @property
    def task_units(self) -> tuple[tuple[str, ...], ...]:
        return self.units or tuple((job,) for job in self.job_ids)

    def shape(self, o: SbatchOptions) -> tuple[int, int]:
        """(nodes, GPUs per node) for one task; a job with more processes than GPUs per node spans nodes."""
        if o.gpus_per_task == 0 or self.processes <= o.gpus_per_task:
            return 1, min(self.processes, o.gpus_per_task) if o.gpus_per_task else 0
        nodes = -(-self.processes // o.gpus_per_task)
        if self.processes % nodes:
            raise ConfigError(
                f"processes: {self.processes} do not split evenly over {nodes} nodes of {o.gpus_per_task} GPUs; "
                "choose processes as a multiple of --gpus-per-task"
            )
        return nodes, self.processes // nodes

    def per_task(self, o: SbatchOptions) -> int:
        return o.jobs_per_gpu if self.processes == 1 else 1

    def tasks(self, o: SbatchOptions) -> int:
        return -(-len(self.task_units) // self.per_task(o))


def options(suite: dict[str, Any], **given: Any) -> SbatchOptions:
    """The options of a submit: SbatchOptions' defaults, then the suite's own `slurm:` block, then the command line's
    (None: not given there)."""
    return SbatchOptions(**{**suite, **{k: v for k, v in given.items() if v is not None}})


def arrays(
    suite_name: str, suite_path: Path, jobs: list[JobSpec], where: Where, seed_batch: bool = False, trackers=()
) -> list[Array]:
    """The jobs to submit, grouped by their number of processes (one array each): every job that is neither done
    nor already waiting or running in an array submitted before. With `seed_batch`, the pending seeds of each
    single-process configuration are one unit (one process trains them as lanes)."""
    in_queue = {job for states in queued(where, suite_name).values() for job in states}
    folders = run_folders(where.results, suite_name)  # a job without a folder is pending: nothing to read
    groups: dict[int, list[JobSpec]] = {}
    for job in jobs:
        if job.job_id in in_queue:
            continue
        if job.job_id not in folders:
            groups.setdefault(job.train.processes, []).append(job)
            continue
        run = job_dir(where.results, suite_name, job.job_id)
        if (state := state_of(run)) == DAMAGED:  # `harness status` says which file and what to do
            log.warning(f"{job.job_id}: its records are damaged; not submitted (`harness status` says why)")
        elif state not in FINISHED or not run.final_path.exists():
            groups.setdefault(job.train.processes, []).append(job)
    out = []
    for p, pending in sorted(groups.items()):
        ids = tuple(job.job_id for job in pending)
        units = lanes.units(pending, trackers) if seed_batch and p == 1 else []
        grouped = tuple(tuple(job.job_id for job in unit) for unit in units) if len(units) < len(ids) else ()
        out.append(Array(suite_name, suite_path, ids, p, grouped))
    return out


def check(o: SbatchOptions) -> None:
    for name in ("partition", "time", "mem", "account"):
        value = getattr(o, name)
        if value is not None and not is_slurm_word(value):
            raise ConfigError(f"--{name.replace('_', '-')} {value!r}: not a SLURM value (letters, digits, ._:-)")
    lows = (("gpus_per_task", 0), ("cpus_per_task", 1), ("jobs_per_gpu", 1), ("signal_seconds", 1), ("max_requeues", 0))
    for name, low in lows:
        if getattr(o, name) < low:
            raise ConfigError(f"--{name.replace('_', '-')} must be ≥ {low}")
    if o.max_concurrent is not None and o.max_concurrent < 1:
        raise ConfigError("--max-concurrent must be ≥ 1")
    if o.jobs_per_gpu > 1 and o.gpus_per_task > 1:
        raise ConfigError("--jobs-per-gpu packs jobs onto one GPU: use it with --gpus-per-task 1 (or 0 for CPUs)")


def directives(a: Array, o: SbatchOptions, where: Where) -> list[str]:
    nodes, gpus = a.shape(o)
    throttle = f"%{o.max_concurrent}" if o.max_concurrent else ""
    log_dir = where.results / a.suite_name / "slurm"
    lines = {
        "job-name": f"harness-{a.suite_name}" + (f"-p{a.processes}" if a.processes > 1 else ""),
        "array": f"0-{a.tasks(o) - 1}{throttle}",
        "output": f"{log_dir}/%A_%a.out",
        "partition": o.partition,
        "account": o.account,
        "time": o.time,
        "nodes": str(nodes),
        "ntasks-per-node": "1",
        "cpus-per-task": str(o.cpus_per_task),
        "gpus-per-node": str(gpus) if gpus else None,
        "mem": o.mem,
    }
    for key, value in lines.items():
        if value is not None and not is_slurm_word(value):
            raise ConfigError(f"{value!r} cannot go on an #SBATCH line (--{key}); use a path without spaces or quotes")
    return [f"#SBATCH --{key}={value}" for key, value in lines.items() if value is not None]


def launch_lines(a: Array, o: SbatchOptions, where: Where, python: str) -> list[str]:
    """The body of launch_job(): run the unit $1 (a job id, or ids of seeds as lanes, comma-separated). One node:
    `harness run-job` (which starts the ranks itself). Several nodes (always one job): srun puts one accelerate
    launcher on each node, ranked by SLURM_NODEID."""
    q = shlex.quote
    options = f"--results {q(str(where.results))} --data-root {q(str(where.data_root))} --device {q(where.device)}"
    options += f" --threads {max(1, o.cpus_per_task // a.per_task(o))}"  # packed jobs share the task's CPUs
    nodes, _ = a.shape(o)
    if nodes == 1:  # exec: the job itself is the background process the batch shell waits for and signals reach
        return [f'  exec {q(python)} -m harness run-job "$SUITE" --job-id "$1" {options}']
    rank_command = (
        'exec "$0" -m accelerate.commands.launch --multi_gpu '
        f'--num_machines {nodes} --num_processes {a.processes} --machine_rank "$SLURM_NODEID" '
        '--main_process_ip "$1" --main_process_port "$2" --mixed_precision no --dynamo_backend no '
        '-m harness run-job "${@:3}"'
    )
    return [
        "  trap : USR1 TERM  # this subshell waits for srun, which forwards TERM to the ranks",
        "  local head port",
        '  head=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)',
        "  port=$(( 20000 + SLURM_JOB_ID % 20000 ))",
        '  grep -qE \'"state": "(done|diverged)"\' "$RUNS/$1/status.json" 2>/dev/null && return 0',
        "  # the ranks take no lock: this task holds the job for them, as `harness run-job` does (exit 73 if taken)",
        '  [ -L "$RUNS/$1/.lock" ] && { echo "harness: $RUNS/$1/.lock is a symbolic link; remove it"; return 1; }',
        '  exec 9>>"$RUNS/$1/.lock"',
        '  flock -n 9 || { echo "harness: $1 is already running in another process"; return 73; }',
        '  rm -f "$RUNS/$1/STOP"  # a request to an earlier run of this job',
        "  # the job's status from an earlier run must not pass for this one's (through a new temp file, never a link)",
        "  local tmp",
        '  tmp=$(mktemp "$RUNS/$1/.status.json.XXXXXX.tmp") || return 1',
        '  printf \'{"state": "pending"}\\n\' > "$tmp"',
        '  mv "$tmp" "$RUNS/$1/status.json"',
        f"  srun --nodes={nodes} --ntasks-per-node=1 --kill-on-bad-exit=1 \\",
        '    --cpus-per-task="${SLURM_CPUS_PER_TASK:-1}" \\',  # srun no longer inherits it from sbatch (22.05)
        f"    bash -c {q(rank_command)} \\",
        f'    {q(python)} "$head" "$port" "$SUITE" --job-id "$1" {options}',
        "  local code=$?",
        "  # accelerate's launcher reports a rank's exit 75 as a failure: the job's own status says what happened",
        '  grep -qE \'"state": "(done|diverged)"\' "$RUNS/$1/status.json" 2>/dev/null && return 0',
        '  grep -q \'"state": "interrupted"\' "$RUNS/$1/status.json" 2>/dev/null && return 75',
        '  return "$code"',
    ]


def render(a: Array, o: SbatchOptions, where: Where, python: str, workdir: Path, template: str) -> str:
    """The sbatch script: a pure function of its inputs. Every value from a suite or the command line is either
    checked against SLURM's own syntax (#SBATCH lines) or shell-quoted; the script makes folders $RUNS/<job id>."""
    check(o)
    for name in (a.suite_name, *a.job_ids):
        if not is_safe_name(name):
            raise ConfigError(f"{name!r} cannot be a results folder name; use letters, digits, '.', '_', '+', '-'")
    per_task = a.per_task(o)
    unit = "group of seeds trained as lanes (or a job alone)" if a.units else "job"
    lanes_text = f" in {_count(len(a.units), 'unit')} (seeds as lanes)" if a.units else ""
    values = {
        "header": f"suite {a.suite_name}: {_count(len(a.job_ids), 'job')} of {_count(a.processes, 'process')} "
        f"each{lanes_text}, {_count(a.tasks(o), 'array task')}",
        "per_task_text": f"{per_task} units packed on one device, each a {unit}" if per_task > 1 else unit,
        "directives": "\n".join(directives(a, o, where)),
        "signal_seconds": str(o.signal_seconds),
        "workdir": shlex.quote(str(workdir)),
        "suite": shlex.quote(str(a.suite_path)),
        "runs": shlex.quote(str(where.results / a.suite_name)),
        "job_ids": "\n".join(f"  {shlex.quote(','.join(u))}" for u in a.task_units),  # a unit: ids, comma-separated
        "per_task": str(per_task),
        "launch": "\n".join(launch_lines(a, o, where, python)),
        "max_requeues": str(o.max_requeues),
    }
    return fill(template, values)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}{'es' if noun.endswith('s') else 's'}"


def fill(template: str, values: dict[str, str]) -> str:
    unknown = set(PLACEHOLDER.findall(template)) - set(values)
    if unknown:
        raise ConfigError(f"sbatch template: unknown placeholder(s) {', '.join(sorted(unknown))}")
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def read_template(path: Path | None) -> str:
    path = path or TEMPLATE
    try:
        return path.read_text()
    except OSError as e:
        raise ConfigError(f"cannot read the sbatch template {path}: {e.strerror}; pass --template FILE") from None


# --- talking to SLURM -------------------------------------------------------------------------------------------


def submissions_path(where: Where, suite_name: str) -> Path:
    return where.results / suite_name / "slurm" / "submissions.jsonl"


def _slurm(*args: str) -> str:
    if shutil.which(args[0]) is None:
        raise HarnessError(f"{args[0]} not found: is this a SLURM login node? (`--dry-run` prints the script)")
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    if done.returncode:
        raise HarnessError(f"{' '.join(args[:2])} failed: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def submit(a: Array, o: SbatchOptions, where: Where, script: str) -> str:
    """Write the script next to the suite's results, sbatch it, record the array; returns SLURM's job id."""
    folder = where.results / a.suite_name / "slurm"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{a.suite_name}-p{a.processes}-{time.strftime('%Y%m%d-%H%M%S')}.sbatch"
    atomic.write_bytes(path, script.encode())  # a new file: never written through a link planted at that name
    try:
        job_id = _slurm("sbatch", "--parsable", str(path)).strip().split(";")[0]
    except HarnessError as e:
        if "generic resource" not in str(e) or not o.gpus_per_task:
            raise
        raise HarnessError(
            f"{e}: this cluster (or partition) has no GPUs to give the {o.gpus_per_task} per task asked for; "
            "for CPUs pass --gpus-per-task 0 or set slurm: {gpus_per_task: 0} in the suite"
        ) from None
    record = {"array_job_id": job_id, "script": str(path), "job_ids": list(a.job_ids), "per_task": a.per_task(o)}
    if a.units:  # a task runs per_task units, not per_task jobs
        record["units"] = [list(u) for u in a.units]
    append_jsonl(submissions_path(where, a.suite_name), {**record, "time": time.time()})
    return job_id


def queued(where: Where, suite_name: str) -> dict[str, dict[str, str]]:
    """For each recorded array SLURM still knows: {harness job id: SLURM state} of its queued or running tasks."""
    records = read_jsonl(submissions_path(where, suite_name))
    if not records or shutil.which("squeue") is None:
        return {}
    ids = ",".join(r["array_job_id"] for r in records)
    command = ["squeue", "-h", "-r", "-j", ids, "-o", "%F %K %T"]
    out = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if out.returncode and "Invalid job id" not in out.stderr:  # a busy or unreachable controller: never guess
        raise HarnessError(f"squeue failed ({out.stderr.strip()}); cannot tell which jobs are already queued")
    tasks: dict[str, dict[str, str]] = {}  # array id -> task -> state: each record looks up its own tasks
    for line in out.stdout.splitlines():
        array_id, task, state = line.split()
        tasks.setdefault(array_id, {})[task] = state
    result: dict[str, dict[str, str]] = {}
    for r in records:
        states = {}
        for task, state in tasks.get(r["array_job_id"], {}).items():
            if task.isdigit():
                first, units = int(task) * r["per_task"], r.get("units") or [[job] for job in r["job_ids"]]
                states |= {job: state for unit in units[first : first + r["per_task"]] for job in unit}
        if states:
            result[r["array_job_id"]] = states
    return result


def array_summary(where: Where, suite_name: str) -> list[str]:
    """One line per array of this suite still in SLURM's queue: its tasks' states."""
    try:
        arrays = queued(where, suite_name)
    except (HarnessError, subprocess.TimeoutExpired) as e:
        return [f"slurm: {e}"]
    lines = []
    for array_id, states in arrays.items():
        counts = Counter(states.values())
        text = ", ".join(f"{n} {state.lower()}" for state, n in sorted(counts.items()))
        lines.append(f"slurm array {array_id}: jobs {text}")
    return lines
