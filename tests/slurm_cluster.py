"""A real single-node SLURM cluster on localhost for the tests: munged, slurmctld and slurmd from Debian's packages,
configured and run under a temporary folder, stopped by their pid files."""

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol")
INSTALL_HINT = "apt-get install slurmctld slurmd slurm-client munge"


def missing() -> str | None:
    """Why a cluster cannot be started here, or None."""
    paths = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    absent = [b for b in BINARIES if shutil.which(b, path=paths) is None]
    if absent:
        return f"SLURM is not installed ({', '.join(absent)} missing; {INSTALL_HINT})"
    if os.geteuid() != 0:
        return "a local SLURM cluster needs root (slurmd runs jobs as their user)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _sbin(name: str) -> str:
    return shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")


@dataclass
class Cluster:
    root: Path
    host: str
    conf: Path

    @property
    def env(self) -> dict[str, str]:
        """The environment a client (sbatch, squeue, harness submit) needs to reach this cluster."""
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(args, env=self.env, capture_output=True, text=True, check=check, timeout=60)

    def jobs(self) -> list[tuple[str, str]]:
        """(job id, state) of every job the controller still knows, array tasks one by one."""
        out = self.run("squeue", "-h", "-r", "-o", "%i %T").stdout
        return [tuple(line.split()) for line in out.splitlines() if line.strip()]

    def wait_idle(self, timeout: float, poll: float = 1.0) -> None:
        deadline = time.monotonic() + timeout
        while self.jobs():
            if time.monotonic() > deadline:
                raise TimeoutError(f"SLURM jobs still queued after {timeout:.0f} s: {self.jobs()}")
            time.sleep(poll)


def config(root: Path, host: str, cpus: int, ports: tuple[int, int]) -> str:
    return f"""\
ClusterName=harness-test
SlurmctldHost={host}
SlurmctldPort={ports[0]}
SlurmdPort={ports[1]}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={root}/munge/munge.socket,cred_expire=10
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc={root}/jobcomp.txt
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
KillWait=30
MinJobAge=2
JobRequeue=1
NodeName={host} CPUs={cpus} State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


def start(root: Path, cpus: int | None = None, timeout: float = 30) -> Cluster:
    root.mkdir(parents=True, exist_ok=True)
    for sub in ("munge", "state", "spool"):
        (root / sub).mkdir(exist_ok=True)
    os.chmod(root / "munge", 0o700)
    key = root / "munge" / "munge.key"
    key.write_bytes(os.urandom(1024))
    os.chmod(key, 0o400)
    subprocess.run(
        [_sbin("munged"), "--force", f"--socket={root}/munge/munge.socket", f"--key-file={key}",
         f"--pid-file={root}/munge/munged.pid", f"--log-file={root}/munge/munged.log",
         f"--seed-file={root}/munge/munged.seed"],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    host = socket.gethostname().split(".")[0]
    conf = root / "slurm.conf"
    conf.write_text(config(root, host, cpus or os.cpu_count() or 1, (_free_port(), _free_port())))
    env = {**os.environ, "SLURM_CONF": str(conf)}
    subprocess.run([_sbin("slurmctld"), "-f", str(conf)], env=env, check=True, capture_output=True, timeout=30)
    subprocess.run([_sbin("slurmd"), "-f", str(conf), "-N", host], env=env, check=True, capture_output=True, timeout=30)
    cluster = Cluster(root, host, conf)
    _wait_ready(cluster, timeout)
    return cluster


def _wait_ready(cluster: Cluster, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = cluster.run("sinfo", "-h", "-N", "-o", "%T", check=False).stdout.strip()
        if out and out.split()[0].rstrip("*") in ("idle", "mixed", "allocated"):
            return
        time.sleep(0.5)
    logs = "".join(
        (cluster.root / f).read_text()[-2000:] for f in ("slurmctld.log", "slurmd.log") if (cluster.root / f).exists()
    )
    stop(cluster)
    raise RuntimeError(f"the test SLURM cluster did not become ready in {timeout:.0f} s:\n{logs}")


def stop(cluster: Cluster) -> None:
    """Stop the daemons by their pid files (never by name: other clusters may run on this machine)."""
    for pid_file in ("slurmd.pid", "slurmctld.pid", "munge/munged.pid"):
        path = cluster.root / pid_file
        if not path.exists():
            continue
        try:
            pid = int(path.read_text().strip())
            os.kill(pid, signal.SIGTERM)
            _wait_gone(pid, 10)
        except (ValueError, ProcessLookupError):
            pass


def _wait_gone(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
