"""SLURM arrays: the rendered sbatch scripts (pinned by reference files, safe against shell injection), the two-node
launch line, and on a real single-node cluster: a submitted suite, a requeued task resuming, the time-limit warning."""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.core.errors import ConfigError
from harness.launch import slurm
from harness.launch.processes import Where
from harness.plan.suite import load_suite
from tests.helpers import REPO, harness, tiny_suite

EXAMPLES = REPO / "slurm" / "examples"
HOME = Path("/home/user/harness")  # fixed inputs: the reference scripts must not depend on this machine
WHERE = Where(results=HOME / "results", data_root=Path("/data/harness"))
PYTHON = "/home/user/harness/.venv/bin/python"


REFERENCES = {
    "cifar_all.sbatch": ("cifar_all.yaml", slurm.SbatchOptions(partition="gpu", max_concurrent=16)),
    "cifar_all-packed.sbatch": (
        "cifar_all.yaml",
        slurm.SbatchOptions(partition="gpu", time="08:00:00", jobs_per_gpu=4, cpus_per_task=8, mem="64G"),
    ),
    "cifar_ddp-2nodes.sbatch": ("cifar_ddp.yaml", slurm.SbatchOptions(partition="gpu", gpus_per_task=4)),
}


def _render(suite_file: str, options: slurm.SbatchOptions) -> str:
    suite = load_suite(REPO / "suites" / suite_file)
    [array] = slurm.arrays(suite.name, HOME / "suites" / suite_file, list(suite.jobs), WHERE)
    return slurm.render(array, options, WHERE, PYTHON, HOME, slurm.read_template(None))


@pytest.mark.parametrize("name", list(REFERENCES))
def test_rendered_scripts_match_the_committed_references(name):
    """The script is a pure function of its inputs. After an intended change: HARNESS_UPDATE_REFERENCES=1 pytest."""
    text = _render(*REFERENCES[name])
    if os.environ.get("HARNESS_UPDATE_REFERENCES"):
        (EXAMPLES / name).write_text(text)
    assert text == (EXAMPLES / name).read_text()
    assert subprocess.run(["bash", "-n"], input=text, text=True).returncode == 0


def test_arrays_have_one_task_per_pending_job_or_per_packed_group():
    one = _render(*REFERENCES["cifar_all.sbatch"])
    assert "#SBATCH --array=0-95%16" in one and "#SBATCH --gpus-per-node=1" in one
    assert "#SBATCH --requeue" in one and "#SBATCH --signal=B:USR1@120" in one
    packed = _render(*REFERENCES["cifar_all-packed.sbatch"])
    assert "#SBATCH --array=0-23\n" in packed and "PER_TASK=4" in packed
    multi = _render(*REFERENCES["cifar_ddp-2nodes.sbatch"])
    assert "#SBATCH --nodes=2" in multi and "#SBATCH --gpus-per-node=4" in multi
    assert "--num_machines 2 --num_processes 8 --machine_rank" in multi


def test_seed_batch_arrays_have_one_task_per_configuration_and_each_task_makes_its_seeds_folders(tmp_path):
    suite = load_suite(REPO / "suites" / "cifar_all.yaml")  # 32 configurations x 3 seeds
    [array] = slurm.arrays(suite.name, HOME / "suites" / "cifar_all.yaml", list(suite.jobs), WHERE, seed_batch=True)
    assert len(array.units) == 32 and all(len(unit) == 3 for unit in array.units)
    assert sorted(array.job_ids) == sorted(job.job_id for job in suite.jobs)
    options = slurm.SbatchOptions(partition="gpu", gpus_per_task=0)
    script = slurm.render(array, options, WHERE, PYTHON, HOME, slurm.read_template(None))
    assert "#SBATCH --array=0-31\n" in script and f"  {','.join(array.units[0])}\n" in script
    where = Where(results=tmp_path / "results", data_root=tmp_path)
    script = slurm.render(array, options, where, "/bin/echo", tmp_path, slurm.read_template(None))
    env = {**os.environ, "SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_JOB_ID": "1"}
    done = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert f"run-job {HOME}/suites/cifar_all.yaml --job-id {','.join(array.units[1])} " in done.stdout
    assert sorted(p.name for p in (tmp_path / "results" / suite.name).iterdir()) == sorted(array.units[1])


def test_suite_strings_cannot_inject_shell(tmp_path):
    """A hostile suite path, workdir and results folder are quoted: running the script executes none of it."""
    evil = "$(touch PWNED)`touch PWNED2`; touch PWNED3 '\""
    folder = tmp_path / evil
    folder.mkdir()
    array = slurm.Array("tiny", folder / "suite.yaml", ("dcgan_synthetic_32px_e1_s0_0000abcd",), 1)
    where = Where(results=folder / "results", data_root=folder)
    options = slurm.SbatchOptions(gpus_per_task=0, signal_seconds=60)
    with pytest.raises(ConfigError, match="cannot go on an #SBATCH line"):
        slurm.render(array, options, where, "/bin/echo", folder, slurm.read_template(None))  # its log path
    where = Where(results=tmp_path / "results", data_root=folder)
    script = slurm.render(array, options, where, "/bin/echo", folder, slurm.read_template(None))
    env = {**os.environ, "SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_JOB_ID": "1"}
    done = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert not list(tmp_path.rglob("PWNED*")) and not list(Path.cwd().glob("PWNED*"))
    assert f"run-job {folder}/suite.yaml --job-id dcgan_synthetic_32px_e1_s0_0000abcd" in done.stdout


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"partition": "gpu; rm -rf /"}, "--partition"),
        ({"time": "1:00 --wrap=x"}, "--time"),
        ({"jobs_per_gpu": 2, "gpus_per_task": 2}, "--jobs-per-gpu packs jobs onto one GPU"),
        ({"max_concurrent": 0}, "--max-concurrent"),
    ],
)
def test_bad_options_are_refused(changes, message):
    with pytest.raises(ConfigError, match=message):
        _render("cifar_all.yaml", slurm.SbatchOptions(**changes))


def test_submit_dry_run_prints_the_script_of_every_pending_job(tmp_path):
    done = harness("submit", "suites/cifar_all.yaml", "--dry-run", "--results", str(tmp_path), "--max-concurrent", "8")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("#!/bin/bash") and "#SBATCH --array=0-95%8" in done.stdout
    assert subprocess.run(["bash", "-n"], input=done.stdout, text=True).returncode == 0
    multi = harness("submit", "suites/cifar_ddp.yaml", "--dry-run", "--gpus-per-task", "3")
    assert multi.returncode == 2 and "do not split evenly over 3 nodes" in multi.stderr


# --- a real cluster ----------------------------------------------------------------------------------------------


def _submit(cluster, suite: Path, results: Path, *extra: str) -> str:
    done = harness(
        "submit", str(suite), "--results", str(results), "--gpus-per-task", "0", "--cpus-per-task", "1",
        "--time", "30:00", *extra, env=cluster.env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.split("submitted array ")[1].split(":")[0]


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.5)


@pytest.mark.integration
def test_submit_seed_batch_trains_the_smoke_seeds_as_lanes_in_one_task_and_report_shows_both(
    slurm, tmp_path, inception_weights, monkeypatch
):
    """The smoke suite as it is (its own slurm: block asks this GPU-less cluster for one CPU a task), its two seeds
    one unit: one array task, one process, two lanes. (Two threads for it ran 4x slower in CI, the other test worker
    beside it: one thread per process is what a loaded 2-core node runs well.) One job per task is the requeue
    tests' path."""
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))  # its own reference cache: other tests count theirs
    results = tmp_path / "results"
    args = ("--results", str(results), "--seed-batch")
    submitted = harness("submit", "suites/smoke.yaml", *args, env=slurm.env)
    assert submitted.returncode == 0, submitted.stderr
    assert "2 jobs in 1 tasks (1 units: seeds as lanes)" in submitted.stdout, submitted.stdout
    array = submitted.stdout.split("submitted array ")[1].split(":")[0]
    status = harness("status", "suites/smoke.yaml", "--results", str(results), env=slurm.env)
    assert f"slurm array {array}: jobs" in status.stdout  # both queued or running, as SLURM says
    slurm.wait_idle(timeout=600)
    logs = sorted((results / "smoke" / "slurm").glob(f"{array}_*.out"))
    assert len(logs) == 1  # one array task for the two seeds
    done = harness("status", "suites/smoke.yaml", "--results", str(results), env=slurm.env)
    assert "smoke: 2 done, 0 running" in done.stdout, logs[0].read_text()[-2000:]
    finals = [json.loads(p.read_text()) for p in (results / "smoke").rglob("final.json")]
    assert [f["lanes"] for f in finals] == [2, 2]
    report = harness("report", str(results / "smoke"))
    assert report.returncode == 0, report.stderr
    summary = (results / "smoke" / "summary.csv").read_text().splitlines()
    assert len(summary) == 3 and all("dcgan_synthetic_32px" in line for line in summary[1:])
    again = harness("submit", "suites/smoke.yaml", *args, env=slurm.env)
    assert again.returncode == 0 and "nothing to submit" in again.stdout


@pytest.mark.integration
def test_gpus_asked_of_a_cluster_without_them_is_one_line_saying_how_to_ask_for_cpus(slurm, tmp_path):
    assert "Gres" not in slurm.conf.read_text()  # the test cluster has no GPUs
    done = harness("submit", "suites/smoke.yaml", "--results", str(tmp_path), "--gpus-per-task", "1", env=slurm.env)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith("error: sbatch --parsable failed: sbatch: error: Invalid generic resource (gres)"), line
    assert "no GPUs to give the 1 per task asked for" in line and "--gpus-per-task 0" in line
    assert "slurm: {gpus_per_task: 0}" in line
    assert not slurm.jobs()


def _smoke_directives(tmp_path: Path, *options: str) -> list[str]:
    done = harness("submit", "suites/smoke.yaml", "--dry-run", "--results", str(tmp_path), *options)
    assert done.returncode == 0, done.stderr
    return [line for line in done.stdout.splitlines() if line.startswith("#SBATCH")]


def test_a_suite_states_its_own_slurm_resources_and_the_command_line_overrides_them(tmp_path):
    """suites/smoke.yaml, a CPU suite, asks for no GPU, 1 CPU and half an hour; options given win, one by one."""
    own = _smoke_directives(tmp_path)
    assert {"#SBATCH --cpus-per-task=1", "#SBATCH --time=00:30:00"} <= set(own)
    assert not [line for line in own if "gpus" in line]
    given = _smoke_directives(tmp_path, "--gpus-per-task", "1", "--time", "2:00:00", "--mem", "8G")
    assert {"#SBATCH --gpus-per-node=1", "#SBATCH --time=2:00:00", "#SBATCH --mem=8G"} <= set(given)
    assert "#SBATCH --cpus-per-task=1" in given  # not given: still the suite's
    plain = load_suite(tiny_suite(tmp_path / "s.yaml"))  # no slurm: block, no option: SbatchOptions' defaults
    assert slurm.options(plain.slurm, time=None, gpus_per_task=None) == slurm.SbatchOptions()


def test_every_suite_slurm_key_is_an_sbatch_option():
    from harness.plan.suite import SLURM_KEYS

    fields = slurm.SbatchOptions.__dataclass_fields__
    assert set(SLURM_KEYS) <= set(fields)
    assert all(type(least) is type(fields[k].default) or fields[k].default is None for k, least in SLURM_KEYS.items())


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ("slurm: 3", "slurm: expected a mapping"),
        ("slurm: {gpus: 1}", "slurm.gpus: unknown key; valid: gpus_per_task, cpus_per_task, time"),
        ("slurm: {gpus_per_task: -1}", "slurm.gpus_per_task: must be ≥ 0, got -1"),
        ("slurm: {cpus_per_task: 0}", "slurm.cpus_per_task: must be ≥ 1, got 0"),
        ("slurm: {cpus_per_task: two}", "slurm.cpus_per_task: expected int, got 'two'"),
        ("slurm: {gpus_per_task: true}", "slurm.gpus_per_task: expected int, got True"),
        ("slurm: {time: 30:00}", "slurm.time: expected a quoted string, got 1800 (unquoted, YAML reads 30:00 as"),
        ("slurm: {time: 1:00:00}", "slurm.time: expected a quoted string, got 3600"),
        ("slurm: {partition: 'gpu; rm -rf /'}", "slurm.partition: 'gpu; rm -rf /' is not a SLURM value"),
        ("slurm: {mem: ''}", "slurm.mem: '' is not a SLURM value"),
    ],
)
def test_a_bad_slurm_block_is_refused_at_load(tmp_path, block, message):
    path = tiny_suite(tmp_path / "s.yaml")
    path.write_text(path.read_text() + block + "\n")
    with pytest.raises(ConfigError, match=re.escape(message)) as e:
        load_suite(path)
    assert "\n" not in str(e.value)


def test_a_bad_slurm_block_is_one_line_and_exit_2_through_the_cli(tmp_path):
    path = tiny_suite(tmp_path / "s.yaml")
    path.write_text(path.read_text() + "slurm: {time: 30:00}\n")
    done = harness("submit", str(path), "--dry-run", "--results", str(tmp_path))
    unquoted = "unquoted, YAML reads 30:00 as the number 1800"
    expected = f'slurm.time: expected a quoted string, got 1800 ({unquoted}); write e.g. time: "30:00"'
    assert done.returncode == 2 and done.stderr == f"error: {path}: {expected}\n", done.stderr


@pytest.mark.integration
@pytest.mark.parametrize("how, seeds", [("scontrol-requeue", (0, 1)), ("time-limit-warning", (0,))])
def test_a_requeued_task_resumes_from_its_checkpoint(slurm, tmp_path, how, seeds):
    """Two seeds as lanes of one task (--seed-batch) requeued by scontrol; one job per task warned of its limit."""
    suite = tiny_suite(tmp_path / "long.yaml", name="long", epochs=6, n_images=4096 // len(seeds), seeds=seeds)
    results = tmp_path / "results"
    array = _submit(slurm, suite, results, *(["--seed-batch"] if len(seeds) > 1 else []))
    task = f"{array}_0"
    _wait(lambda: any(results.rglob("checkpoint.pt")), 180, "no checkpoint: the task never ran an epoch")
    if how == "scontrol-requeue":
        slurm.run("scontrol", "requeue", task)
    else:  # what SLURM sends the batch shell --signal-seconds before the time limit
        slurm.run("scancel", "--signal=USR1", "--batch", task)
    run_dirs = sorted(p.parent for p in results.rglob("spec.json"))
    assert len(run_dirs) == len(seeds)
    log_path = results / "long" / "slurm" / f"{array}_0.out"

    def finished() -> bool:  # squeue can miss a task while it is being requeued: the job's own record decides
        # No `scontrol update StartTime=now` to hurry it: started before slurmd forgets the old instance's revoked
        # credential, the task is killed as "non-startable" and never runs again. The test cluster's cred_expire
        # (10 s, against SLURM's 120) is the wait before a requeued task may start.
        return all((run_dir / "final.json").exists() for run_dir in run_dirs)

    states = lambda: [(run_dir / "status.json").read_text() for run_dir in run_dirs]  # noqa: E731
    _wait(finished, 300, f"the requeued task did not finish: {states()}")
    slurm.wait_idle(timeout=60)
    log = log_path.read_text()
    for run_dir in run_dirs:
        final = json.loads((run_dir / "final.json").read_text())
        assert final["resumed_from_epoch"] != 0, log[-3000:]  # it restarted from a checkpoint, not from scratch
        assert final.get("lanes", 1) == len(seeds)
        epochs = [line for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
        assert len(epochs) == 6  # every epoch recorded once
    if how == "time-limit-warning":
        assert f"requeueing {task}" in log


@pytest.mark.integration
def test_the_two_node_script_trains_one_job_across_two_launchers(tmp_path):
    """The multi-node launch line for real, minus the network: a stand-in `srun` starts the per-node command once
    per "node" (SLURM_NODEID 0 and 1) on this machine, so two accelerate launchers form one 2-rank job."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text(
        "#!/bin/bash\n"
        'while [[ "$1" == --* ]]; do shift; done\n'  # srun's own options
        'SLURM_NODEID=0 "$@" & a=$!\nSLURM_NODEID=1 "$@" & b=$!\n'
        "wait $a; x=$?; wait $b; y=$?; exit $(( x > y ? x : y ))\n"
    )
    (bin_dir / "scontrol").write_text('#!/bin/bash\n[ "$1 $2" = "show hostnames" ] && echo 127.0.0.1\n')
    for tool in ("srun", "scontrol"):
        (bin_dir / tool).chmod(0o755)
    suite_path = tiny_suite(tmp_path / "ddp.yaml", name="ddp", epochs=1, defaults={"processes": 2})
    suite = load_suite(suite_path)
    where = Where(results=tmp_path / "results", data_root=tmp_path, device="cpu")
    [array] = slurm.arrays(suite.name, suite_path, list(suite.jobs), where)
    options = slurm.SbatchOptions(gpus_per_task=1)  # 2 processes, 1 GPU per node: 2 nodes
    script = slurm.render(array, options, where, sys.executable, REPO, slurm.read_template(None))
    assert "#SBATCH --nodes=2" in script
    env = {
        **os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_JOB_ID": "7",
        "SLURM_JOB_NODELIST": "node[1-2]", "SLURM_JOB_ID": "8", "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1",
    }  # fmt: skip
    done = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    [run] = [p.parent for p in (tmp_path / "results").rglob("final.json")]
    final = json.loads((run / "final.json").read_text())
    assert final["processes"] == 2 and final["epochs"] == 1
