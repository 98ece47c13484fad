"""Security: no code from a file runs (yaml.safe_load, torch.load(weights_only=True), no eval/exec/pickle), suite
names and job ids cannot leave the results folder, rendered sbatch scripts run none of the strings they carry, and a
link planted where the harness keeps a file (a lock, a record) is refused, never written through."""

import ast
import json
import os
import random
import subprocess
import warnings
from pathlib import Path

import pytest
import torch
import yaml
from torch import nn

from harness.config.specs import is_safe_name
from harness.core.errors import ConfigError, EvalError
from harness.data import folder
from harness.eval import evaluate
from harness.launch import slurm
from harness.launch.processes import Where
from harness.plan.suite import load_suite, pick, select
from harness.store.runs import RunDir, job_dir
from harness.train import checkpoint, state
from tests.helpers import REPO, harness, tiny_suite

# --- static: the package's source, parsed ------------------------------------------------------------------------

BANNED_CALLS = {
    "eval", "exec", "compile", "__import__", "builtins.eval", "builtins.exec", "builtins.compile",
    "os.system", "os.popen", "subprocess.getoutput", "subprocess.getstatusoutput",
    "yaml.load", "yaml.load_all", "yaml.full_load", "yaml.full_load_all", "yaml.unsafe_load", "yaml.unsafe_load_all",
    "pandas.read_pickle",
}  # fmt: skip
BANNED_MODULES = {"pickle", "_pickle", "cPickle", "marshal", "shelve", "dill", "cloudpickle", "joblib"}
YAML_LOADERS = {"Loader", "FullLoader", "UnsafeLoader", "CLoader", "CFullLoader", "CUnsafeLoader", "UnsafeConstructor"}
TORCH_LOADS = {"torch.load", "torch.serialization.load"}


def _aliases(tree: ast.AST) -> dict[str, str]:
    """Local name -> the dotted name it stands for, from every import in the module."""
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {
                a.asname or a.name.split(".")[0]: a.name if a.asname else a.name.split(".")[0] for a in node.names
            }
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {a.asname or a.name: f"{node.module}.{a.name}" for a in node.names}
    return names


def _dotted(node: ast.AST, aliases: dict[str, str]) -> str | None:
    if isinstance(node, ast.Name):
        return aliases.get(node.id, node.id)
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value, aliases)
        return f"{base}.{node.attr}" if base else None
    return None


def _literal(call: ast.Call, keyword: str):
    """The keyword's literal value; None when it is absent, ... (Ellipsis) when it is not a literal."""
    for kw in call.keywords:
        if kw.arg == keyword:
            return kw.value.value if isinstance(kw.value, ast.Constant) else ...
    return None


def violations(source: str, filename: str = "<snippet>") -> list[str]:
    tree = ast.parse(source, filename)
    aliases = _aliases(tree)
    found = []
    for node in ast.walk(tree):
        where = f"{filename}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import | ast.ImportFrom):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            found += [f"{where}: imports {m}" for m in modules if m.split(".")[0] in BANNED_MODULES]
            if isinstance(node, ast.ImportFrom) and node.module == "yaml":
                found += [f"{where}: from yaml import {a.name}" for a in node.names if a.name != "safe_load"]
        elif isinstance(node, ast.Attribute) and _dotted(node, aliases) in {f"yaml.{n}" for n in YAML_LOADERS}:
            found.append(f"{where}: {_dotted(node, aliases)}")
        elif isinstance(node, ast.Call):
            name = _dotted(node.func, aliases)
            if name in BANNED_CALLS:
                found.append(f"{where}: calls {name}")
            if name in TORCH_LOADS and _literal(node, "weights_only") is not True:
                found.append(f"{where}: {name} without weights_only=True")
            if name in ("numpy.load", "np.load") and _literal(node, "allow_pickle") not in (None, False):
                found.append(f"{where}: {name} with allow_pickle")
            if _literal(node, "shell") not in (None, False):
                found.append(f"{where}: {name}(shell=...)")
    return found


PACKAGE = sorted((REPO / "harness").rglob("*.py"))


def test_the_package_runs_no_code_from_its_inputs():
    """Across every module: no eval/exec/compile, no pickle-family imports, only yaml.safe_load, no shell=True or
    os.system, and torch.load always with weights_only=True. Parsed, so comments and strings do not count."""
    assert len(PACKAGE) > 20
    found = [v for path in PACKAGE for v in violations(path.read_text(), str(path.relative_to(REPO)))]
    assert found == []


@pytest.mark.parametrize(
    "snippet",
    [
        "eval(text)",
        "exec(text)",
        "compile(text, 'f', 'exec')",
        "import pickle",
        "import dill as d",
        "from marshal import loads",
        "import shelve",
        "import yaml\nyaml.load(text)",
        "import yaml\nyaml.load(text, Loader=yaml.SafeLoader)",
        "import yaml as y\ny.unsafe_load(text)",
        "import yaml\nyaml.full_load(text)",
        "import yaml\nyaml.safe_load(text, Loader=yaml.Loader)",
        "from yaml import load",
        "import torch\ntorch.load(p)",
        "import torch\ntorch.load(p, weights_only=False)",
        "import torch\ntorch.load(p, weights_only=flag)",
        "from torch import load\nload(p, map_location='cpu')",
        "import torch as t\nt.serialization.load(p)",
        "import subprocess\nsubprocess.run(cmd, shell=True)",
        "import subprocess as sp\nsp.Popen(cmd, shell=flag)",
        "import os\nos.system(cmd)",
        "import numpy as np\nnp.load(p, allow_pickle=True)",
    ],
)
def test_the_static_check_catches(snippet):
    assert violations(snippet)


def test_the_static_check_passes_harmless_look_alikes():
    snippet = (
        "import re, torch, yaml, subprocess\n"
        "# eval(x) exec(y) import pickle yaml.load torch.load(p)\n"
        "'eval(x); torch.load(p)'\n"
        "G.eval(); re.compile('x'); torch.compile(G); yaml.safe_load(t); yaml.safe_dump(d)\n"
        "torch.load(p, map_location='cpu', weights_only=True)\n"
        "subprocess.run(['ls'], shell=False); subprocess.run(['ls'])\n"
    )
    assert violations(snippet) == []


# --- checkpoints that carry code ---------------------------------------------------------------------------------


class Payload:
    """Unpickling calls open(marker, 'w'): the file appears only if the loader runs code from the file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


def _poisoned(path: Path, marker: Path, framed: bool = False, **fields) -> Path:
    """A torch.save file (torch.save pickles the object) whose G is the payload; `framed`: behind the checkpoint
    module's own header with a valid checksum, which says the bytes are intact, not that they are safe."""
    path.parent.mkdir(parents=True, exist_ok=True)
    obj = {**fields, "G": Payload(marker), "ema": None}
    if framed:
        path.write_bytes(checkpoint.encode(obj))
    else:
        torch.save(obj, path)
    return path


def _state() -> state.TrainState:
    G, D = nn.Linear(2, 2), nn.Linear(2, 2)
    opt_g, opt_d = torch.optim.SGD(G.parameters(), lr=0.1), torch.optim.SGD(D.parameters(), lr=0.1)
    sched = [torch.optim.lr_scheduler.LambdaLR(o, lambda _: 1.0) for o in (opt_g, opt_d)]
    return state.TrainState(G, D, opt_g, opt_d, *sched)


def test_the_payload_is_live(tmp_path):
    """Control: unpickled the unsafe way, the payload does create its marker, so the tests below mean something."""
    marker = tmp_path / "PWNED"
    path = _poisoned(tmp_path / "evil.pt", marker)
    torch.load(path, weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize("framed", [False, True], ids=["plain", "checksummed"])
def test_a_checkpoint_carrying_code_is_refused(tmp_path, framed):
    run, marker = RunDir(tmp_path / "job"), tmp_path / "PWNED"
    fields = {"job_id": "job", "epoch": 3, "step": 9, "rng": []}
    _poisoned(run.checkpoint_path, marker, framed, **fields)
    _poisoned(run.previous_checkpoint_path, marker, framed, **fields)  # the fallback copy is no way in either
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            at = checkpoint.load(run, "job", _state(), lambda m: m)
        except Exception:
            at = None
    assert not marker.exists()
    assert at is None or at.epoch == 0  # refused outright, or treated as no checkpoint: training starts over


@pytest.mark.parametrize("framed", [False, True], ids=["plain", "checksummed"])
@pytest.mark.parametrize("epoch", [None, 2], ids=["checkpoint", "snapshot"])
def test_a_generator_checkpoint_or_snapshot_carrying_code_is_refused(tmp_path, epoch, framed):
    run, marker = RunDir(tmp_path / "job"), tmp_path / "PWNED"
    path = run.checkpoint_path if epoch is None else checkpoint.snapshot_path(run, epoch)
    _poisoned(path, marker, framed, job_id="job", epoch=2)
    with warnings.catch_warnings(), pytest.raises(Exception):  # noqa: B017 - any refusal will do; a load would not
        warnings.simplefilter("ignore")
        checkpoint.load_generator(run, nn.Linear(2, 2), use_ema=False, epoch=epoch)
    assert not marker.exists()


def test_a_poisoned_image_cache_entry_is_rebuilt_not_run(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    marker = tmp_path / "PWNED"
    _poisoned(tmp_path / "cache" / "images" / "0123abcd.pt", marker)
    decoded = (torch.zeros(1, 3, 2, 2, dtype=torch.uint8), torch.zeros(1, dtype=torch.int64), ("a",))
    images, _, names = folder.cached("0123abcd", lambda: decoded)
    assert not marker.exists() and names == ("a",) and images.shape == (1, 3, 2, 2)


def test_poisoned_inception_weights_are_refused(tmp_path, monkeypatch):
    marker = tmp_path / "PWNED"
    monkeypatch.setenv("HARNESS_INCEPTION_WEIGHTS", str(_poisoned(tmp_path / "weights.pth", marker)))
    with pytest.raises(EvalError, match="unreadable"):
        evaluate.extractor()
    assert not marker.exists()


# --- names that would leave the results folder -------------------------------------------------------------------

# Separators, dots, shell syntax, control characters, fullwidth and Cyrillic look-alikes, a zero-width space, and a
# name longer than a file name may be.
HOSTILE = [
    "../x", "../../etc/passwd", "/abs", "a/b", "..", ".", "", "a..b", ".hidden", "-rf", "~", "~root", "a\\b", "C:x",
    "x\0y", "x\ny", "tiny\n", "\ntiny", "tiny\r", "a b", "tiny ", "$(touch PWNED)", "`touch PWNED`", "x;rm -rf y",
    "ｔｉｎｙ", "tіny", "tiny\u200b", "x" * 256,
]  # fmt: skip


def short(name: str) -> str:
    return repr(name)[:24]


def _with_label(path: Path, label: str) -> Path:
    """A tiny suite whose one dataset variant is called `label`."""
    raw = yaml.safe_load(tiny_suite(path).read_text())
    raw["datasets"] = {label: {"source": "synthetic"}}
    raw["matrix"]["dataset"] = [label]
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize("name", HOSTILE, ids=short)
def test_hostile_suite_names_are_refused_at_load(tmp_path, name):
    with pytest.raises(ConfigError, match="name"):
        load_suite(tiny_suite(tmp_path / "s.yaml", name=name))


@pytest.mark.parametrize("label", HOSTILE, ids=short)
def test_hostile_dataset_labels_are_refused_at_load(tmp_path, label):
    with pytest.raises(ConfigError):
        load_suite(_with_label(tmp_path / "s.yaml", label))


@pytest.mark.parametrize(
    "stem", ["a b", "tiny\n", "$(touch PWNED)", "`x`", ".hidden", "-rf", "ｔｉｎｙ", "x;y"], ids=short
)
def test_a_suite_named_after_a_hostile_file_name_is_refused(tmp_path, stem):
    raw = yaml.safe_load(tiny_suite(tmp_path / "s.yaml").read_text())
    del raw["name"]  # the name then comes from the file's
    path = tmp_path / f"{stem}.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match="name"):
        load_suite(path)


@pytest.mark.parametrize("name", HOSTILE, ids=short)
def test_job_dir_refuses_hostile_suite_names_and_job_ids(tmp_path, name):
    with pytest.raises(ConfigError, match="results folder name"):
        job_dir(tmp_path, name, "job")
    with pytest.raises(ConfigError, match="results folder name"):
        job_dir(tmp_path, "tiny", name)


def test_job_selections_only_ever_name_jobs_of_the_suite(tmp_path):
    suite = load_suite(tiny_suite(tmp_path / "s.yaml", seeds=(0, 1)))
    for job_id in ("../x", "/abs", "*", suite.jobs[0].job_id + "/../.."):
        with pytest.raises(ConfigError):
            pick(suite, None, job_id)
    for only in ("../*", "/*", "*/*"):
        with pytest.raises(ConfigError, match="matches no job"):
            select(suite.jobs, only)
    assert select(suite.jobs, "*") == list(suite.jobs)


def test_every_safe_name_stays_one_folder_below_its_parent(tmp_path):
    """A seeded fuzz over the characters that matter: whatever is_safe_name accepts is one plain path component."""
    rng = random.Random(0)
    alphabet = "aZ09._+-/\\\n\r\t\0 ~$`;:'\"*?é\u200b"
    names = ["".join(rng.choices(alphabet, k=rng.randint(1, 6))) for _ in range(20_000)]
    accepted = [n for n in names if is_safe_name(n)]
    assert len(accepted) > 100  # the fuzz reaches the accepting side too
    root = tmp_path.resolve()
    for name in accepted:
        assert (root / name).resolve().parent == root and name.isascii() and name.isprintable(), repr(name)


def test_the_cli_refuses_hostile_names_before_touching_the_disk(tmp_path):
    """Through the real CLI: exit 2 and a one-line error; nothing is created anywhere."""
    results = tmp_path / "results"
    bad_name = harness("plan", str(tiny_suite(tmp_path / "a.yaml", name="../escaped")), "--results", str(results))
    bad_label = harness("plan", str(_with_label(tmp_path / "b.yaml", "tiny\n")), "--results", str(results))
    bad_id = harness(
        "run-job", str(tiny_suite(tmp_path / "c.yaml")), "--job-id", "../../escaped", "--results", str(results)
    )
    for done in (bad_name, bad_label, bad_id):
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr
    assert not results.exists() and not list(tmp_path.rglob("escaped*"))


# --- sbatch scripts -----------------------------------------------------------------------------------------------

JOB = "dcgan_synthetic_32px_e1_s0_0000abcd"
EVIL = "$(touch PWNED)`touch PWNED2`; touch PWNED3 '\"\n touch PWNED4 ${IFS}*"


@pytest.mark.parametrize("name", HOSTILE, ids=short)
def test_render_refuses_hostile_suite_names_and_job_ids(tmp_path, name):
    where = Where(results=tmp_path / "results", data_root=tmp_path)
    options, template = slurm.SbatchOptions(gpus_per_task=0), slurm.read_template(None)
    for array in (
        slurm.Array(name, tmp_path / "s.yaml", (JOB,), 1),
        slurm.Array("tiny", tmp_path / "s.yaml", (name,), 1),
    ):
        with pytest.raises(ConfigError):
            slurm.render(array, options, where, "/bin/echo", tmp_path, template)


@pytest.mark.parametrize("field", ["partition", "time", "mem", "account"])
def test_option_values_with_a_trailing_newline_are_refused(field):
    array = slurm.Array("tiny", Path("/s.yaml"), (JOB,), 1)
    options = slurm.SbatchOptions(**{field: "gpu\n"})
    with pytest.raises(ConfigError, match=field):
        slurm.render(array, options, Where(Path("/r"), Path("/d")), "/bin/echo", Path("/w"), slurm.read_template(None))


def _stubs(folder: Path) -> dict[str, str]:
    """Stand-ins for srun and scontrol, and a `python` in the hostile folder that prints each argument as <arg>."""
    bin_dir = folder / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text('#!/bin/bash\nwhile [[ "$1" == --* ]]; do shift; done\nSLURM_NODEID=0 exec "$@"\n')
    (bin_dir / "scontrol").write_text("#!/bin/bash\necho 127.0.0.1\n")
    (folder / "python").write_text("#!/bin/sh\nprintf '<%s>' \"$@\"\n")
    for tool in (bin_dir / "srun", bin_dir / "scontrol", folder / "python"):
        tool.chmod(0o755)
    return {
        **os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_JOB_ID": "1",
        "SLURM_JOB_ID": "2", "SLURM_JOB_NODELIST": "node[1-2]",
    }  # fmt: skip


@pytest.mark.parametrize("processes", [1, 2], ids=["one-node", "two-nodes"])
def test_hostile_paths_python_and_device_reach_the_job_as_single_arguments(tmp_path, processes):
    """Beyond the suite path and workdir (tests/launch/test_slurm.py): the python, data root and device too, on the
    one-node and the srun/accelerate two-node launch line. The script runs; every string arrives whole; none runs."""
    evil = tmp_path / EVIL
    evil.mkdir()
    env = _stubs(evil)
    array = slurm.Array("tiny", evil / "suite.yaml", (JOB,), processes)
    where = Where(results=tmp_path / "results", data_root=evil / "data", device=EVIL)
    options = slurm.SbatchOptions(gpus_per_task=1 if processes > 1 else 0)
    script = slurm.render(array, options, where, str(evil / "python"), evil, slurm.read_template(None))
    assert subprocess.run(["bash", "-n"], input=script, text=True).returncode == 0
    done = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert not list(tmp_path.rglob("PWNED*")) and not list(Path.cwd().glob("PWNED*"))
    expected = [f"<{evil}/suite.yaml><--job-id><{JOB}>", f"<--data-root><{evil}/data>", f"<--device><{EVIL}>"]
    expected += ["<accelerate.commands.launch>", "<--num_machines><2>"] if processes > 1 else []  # through srun
    assert all(e in done.stdout for e in expected), done.stdout


def test_a_planted_reference_feature_file_never_runs_and_is_recomputed(tmp_path, inception_weights):
    """torch-fidelity itself unpickles cached features; the harness reads cache hits as plain tensors first."""
    from harness.config.specs import DataSpec, EvalSpec
    from harness.data import load_dataset
    from harness.eval import evaluate

    data = DataSpec("synthetic", "synthetic", 32, n_images=16)
    fakes, reals = (load_dataset(data, Path("."), split).images for split in ("test", "train"))
    spec, key = EvalSpec(n_samples=16, metrics=("fid",)), "ref-test-planted"
    clean = evaluate.score(fakes, reals, key, spec, cuda=False)
    [cached] = evaluate.fidelity_cache().glob(f"{key}-*.pt")
    marker = tmp_path / "PWNED"
    torch.save(Payload(marker), cached)  # what a user of a shared, writable cache folder could leave there
    again = evaluate.score(fakes, reals, key, spec, cuda=False)
    assert not marker.exists() and again == clean
    assert torch.load(cached, weights_only=True).shape == (16, 2048)  # recomputed, plain tensors again


# --- links planted where the harness keeps its own files ---------------------------------------------------------


def _precious(tmp_path: Path) -> Path:
    """Another user's file outside the results tree and cache: a planted link must leave it as it is."""
    target = tmp_path / "elsewhere" / "precious.txt"
    target.parent.mkdir()
    target.write_text("another user's data\n")
    return target


def _refused(link: Path) -> str:
    return f"{link} is a symbolic link, where the harness keeps a file of its own; remove it and run again"


def _one_error(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr, done.stderr
    [line] = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    return line


def test_a_lock_linked_out_of_a_run_folder_is_refused_and_its_target_untouched(tmp_path):
    """Through the real CLI: the .lock of a job (the holder's name is written into it) is a link to a file elsewhere."""
    suite, results, target = tiny_suite(tmp_path / "s.yaml", epochs=1), tmp_path / "results", _precious(tmp_path)
    run = job_dir(results, "tiny", load_suite(suite).jobs[0].job_id)
    run.path.mkdir(parents=True)
    run.lock_path.symlink_to(target)
    line = _one_error(harness("run-job", str(suite), "--index", "0", "--results", str(results), "--device", "cpu"))
    assert line == f"error: {_refused(run.lock_path)}"
    in_a_suite = harness("run", str(suite), "--results", str(results), "--device", "cpu")
    assert in_a_suite.returncode == 1 and f"failed {run.path.name}: {_refused(run.lock_path)}" in in_a_suite.stderr
    assert target.read_text() == "another user's data\n" and run.lock_path.is_symlink()
    assert not run.status_path.exists()  # nothing of the job was started


def test_a_reference_lock_linked_out_of_the_cache_is_refused_and_its_target_untouched(
    tmp_path, inception_weights, monkeypatch
):
    """Through the real CLI: `harness refs build` locks <key>.lock in the shared reference cache before computing."""
    from harness.eval import scoring

    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    suite = tiny_suite(tmp_path / "s.yaml", metrics=["fid"], n_samples=16, ref_size=16)
    job = load_suite(suite).jobs[0]
    lock = evaluate.fidelity_cache() / f"{scoring.reference(job, job.eval, tmp_path).key}.lock"
    lock.parent.mkdir(parents=True)
    target = _precious(tmp_path)
    lock.symlink_to(target)
    line = _one_error(harness("refs", "build", str(suite), "--device", "cpu"))
    assert line == f"error: {_refused(lock)}"
    assert target.read_text() == "another user's data\n"
    assert not list(evaluate.fidelity_cache().glob("*.pt"))  # refused before anything was computed


def test_files_written_in_place_refuse_links_and_fifos_and_replaced_files_replace_the_link(tmp_path):
    """In process, each way the harness writes: a lock, an appended record, a STOP request, an atomic replace."""
    from harness.core import atomic
    from harness.store.runs import append_jsonl

    target = _precious(tmp_path)
    writers = [lambda p: atomic.file_lock(p).__enter__(), lambda p: append_jsonl(p, {"epoch": 1}), atomic.touch]
    for i, write in enumerate(writers):
        link, fifo = tmp_path / f"link{i}", tmp_path / f"fifo{i}"
        link.symlink_to(target)
        os.mkfifo(fifo)  # would block an open for writing until a reader came
        for planted, kind in ((link, "a symbolic link"), (fifo, "not a regular file")):
            with pytest.raises(atomic.LinkRefused, match=f"{planted} is {kind}.*remove it"):
                write(planted)
    status = RunDir(tmp_path / "run").status_path
    status.parent.mkdir()
    status.symlink_to(target)
    atomic.write_json(status, {"state": "pending"})  # os.replace swaps the link for the new file
    assert not status.is_symlink() and json.loads(status.read_text()) == {"state": "pending"}
    assert target.read_text() == "another user's data\n"
