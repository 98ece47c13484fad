import os
import subprocess
import sys

from harness.plan.status import STALE, suite_status
from harness.plan.suite import expand
from harness.store.runs import DONE, FAILED, RUNNING, job_dir


def test_states_with_dead_runners_marked_stale(tmp_path):
    raw = {"name": "s", "matrix": {"arch": ["dcgan"], "dataset": ["synthetic"], "epochs": [1], "seed": [0, 1, 2, 3, 4]}}
    suite = expand(raw, "s")
    runs = [job_dir(tmp_path, "s", j.job_id) for j in suite.jobs]
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    runs[0].write_spec(suite.jobs[0])
    runs[0].write_final({"job_id": suite.jobs[0].job_id})
    runs[0].set_status(DONE)
    runs[1].set_status(FAILED, error="boom")
    runs[2].set_status(RUNNING)  # this process: alive
    runs[3].set_status(RUNNING, pid=int(dead.stdout))  # a process that has exited
    runs[3].append_metrics({"epoch": 1})
    counts, states = suite_status(suite, tmp_path)
    assert counts == {DONE: 1, FAILED: 1, RUNNING: 1, STALE: 1, "pending": 1}
    stale = next(s for s in states if s.state == STALE)
    assert "1 epochs done" in stale.detail and "is gone" in stale.detail
    assert next(s for s in states if s.state == FAILED).detail == "boom"
    assert str(os.getpid()) in next(s for s in states if s.state == RUNNING).detail
    runs[0].final_path.unlink()  # done, but its final record is gone: `harness run` re-finishes it
    counts, states = suite_status(suite, tmp_path)
    assert counts["pending"] == 2 and "re-finishes it" in states[0].detail
