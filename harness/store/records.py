"""The checks every run record passes when it is read back (store.runs.RunDir is the one door): a file that is not what
the harness writes, or that belongs to another job, is Damaged, naming the file and what to do. Nothing here
reads a file; these functions judge the parsed contents."""

import json
import math
from pathlib import Path
from typing import Any

from harness.config.specs import hash_id, is_safe_name
from harness.core.errors import Damaged

STATES = ("pending", "running", "done", "failed", "interrupted", "diverged")
# Every score a record holds: torch-fidelity's (evaluate.KEYS) and the health metrics (harness/eval/health.py).
SCORE_KEYS = (
    "fid", "kid", "kid_std", "is", "is_std", "precision", "recall", "density", "coverage", "diversity", "intra_fid",
)  # fmt: skip

# What to do about a damaged file, by its name: each redoes only what the file holds.
FIX = {
    "spec.json": "delete it: `harness run` writes it again from the suite",
    "status.json": "delete it: `harness run` resumes the job from its checkpoint (a finished job only re-finishes)",
    "final.json": "delete it: `harness run` re-finishes the job from its checkpoint",
    "metrics.jsonl": "restore the file, or delete that line (the harness writes one object per line)",
    "scores.jsonl": "restore the file, or delete that line, then re-score with `harness score`",
}


def damaged(path: Path, problem: str) -> Damaged:
    return Damaged(path, problem, FIX.get(Path(path).name, "restore or delete the file"))


def parse_json(path: Path, data: bytes) -> dict[str, Any]:
    """A whole-file record: UTF-8 JSON holding one object."""
    if not data.strip():
        raise damaged(path, "empty")
    try:
        value = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise damaged(path, "not text (random bytes?)") from None
    except json.JSONDecodeError as e:
        raise damaged(path, f"not JSON ({e.msg} at line {e.lineno})") from None
    return _object(path, value)


def parse_jsonl(path: Path, data: bytes, check=None) -> list[dict[str, Any]]:
    """An append-only record: one object per line. A line that is not JSON at all is one torn by a crash (the
    append that tore it was the last, or started a new line after it) and is skipped; a complete JSON line that
    is not a record is damage: a crash cannot write one."""
    out = []
    for n, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            continue
        record = _object(path, value, f"line {n} ")
        if check is not None:
            check(path, record, f"line {n}: ")
        out.append(record)
    return out


def _object(path: Path, value: Any, where: str = "") -> dict[str, Any]:
    if not isinstance(value, dict):
        raise damaged(path, f"{where}holds a JSON {_kind(value)}, not an object")
    return value


def _kind(value: Any) -> str:
    return {list: "list", str: "string", bool: "boolean", type(None): "null"}.get(type(value), "number")


def _number(value: Any) -> bool:
    """None or a finite number: the harness writes JSON with allow_nan=False, so a NaN was put there by hand."""
    if value is None:
        return True
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def check_status(path: Path, status: dict[str, Any]) -> dict[str, Any]:
    state = status.get("state")
    if state not in STATES:
        raise damaged(path, f"state {state!r} is not one of {', '.join(STATES)}")
    if not isinstance(status.get("error", ""), str) or not _number(status.get("pid")):
        raise damaged(path, "its error or pid is not what the harness writes")
    return status


def check_scores(path: Path, record: dict[str, Any], where: str = "") -> None:
    """Scores are numbers; the protocol they were measured under has the fields every table labels them with."""
    bad = [k for k in SCORE_KEYS if not _number(record.get(k))]
    if bad:
        raise damaged(path, f"{where}{bad[0]} is {record[bad[0]]!r}, not a number")
    repeats = record.get("repeats", [])
    if not isinstance(repeats, list) or not all(isinstance(r, dict) for r in repeats):
        raise damaged(path, f"{where}repeats is not a list of scores, one object per repeat")
    for r in repeats:
        check_scores(path, {k: r.get(k) for k in SCORE_KEYS}, f"{where}a repeat's ")
    proto = record.get("protocol")
    if proto is None:
        return
    ref = proto.get("reference") if isinstance(proto, dict) else None
    if not isinstance(ref, dict) or any(k not in ref for k in ("split", "n")) or "n_samples" not in proto:
        raise damaged(path, f"{where}its protocol lacks the reference or n_samples it was scored with")
    if not is_safe_name(str(proto.get("name", "unnamed"))) or not isinstance(proto.get("extractor", ""), str):
        raise damaged(path, f"{where}its protocol's name {proto.get('name')!r} is not one the harness writes")


def check_final(path: Path, final: dict[str, Any], job_id: str) -> dict[str, Any]:
    if final.get("job_id", job_id) != job_id:
        raise damaged(path, f"it is the record of job {final['job_id']}, not of {job_id}")
    check_scores(path, final)
    for key in ("train_seconds", "images_per_s", "epochs", "scored_epoch"):
        if not _number(final.get(key)):
            raise damaged(path, f"{key} is {final[key]!r}, not a number")
    return final


def check_metric(path: Path, record: dict[str, Any], where: str = "") -> None:
    """An epoch's record: its epoch an integer, every value a number (losses, timings, scores) or a short label."""
    epoch = record.get("epoch")
    if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
        raise damaged(path, f"{where}epoch is {epoch!r}, not an epoch number")
    for key, value in record.items():
        if key != "repeats" and not (_number(value) or isinstance(value, str)):  # repeats: check_scores
            raise damaged(path, f"{where}{key} is {value!r}, not a number")
    check_scores(path, record, where)


def check_spec(path: Path, spec: dict[str, Any], job_id: str) -> dict[str, Any]:
    """The spec must be the one the job's id hashes: an edited spec (another seed, another learning rate) would
    otherwise be reported, ranked and re-scored as a configuration that never ran."""
    spec = dict(spec)
    written = spec.pop("job_id", job_id)
    if written != job_id:
        raise damaged(path, f"it is the spec of job {written}, not of {job_id}")
    try:
        hashed = hash_id(spec)
    except (KeyError, TypeError, ValueError):
        raise damaged(path, "it lacks the model, data or train fields of a job spec") from None
    if job_id is not None and hashed != job_id:
        raise damaged(path, f"it was edited after the job ran (it hashes to {hashed}, not to the job's id)")
    return spec
