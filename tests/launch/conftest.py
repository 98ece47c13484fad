"""A real single-node SLURM cluster for the launch tests, started once per session. It skips (with the reason) where
SLURM cannot run; with HARNESS_REQUIRE_SLURM=1 (set by .ci/run, which installs it) that is a failure instead."""

import os

import pytest

from tests import slurm_cluster


@pytest.fixture(scope="session")
def slurm(tmp_path_factory):
    why = slurm_cluster.missing()
    if why:
        if os.environ.get("HARNESS_REQUIRE_SLURM"):
            pytest.fail(f"HARNESS_REQUIRE_SLURM is set but {why}")
        pytest.skip(why)
    cluster = slurm_cluster.start(tmp_path_factory.mktemp("slurm"))
    yield cluster
    slurm_cluster.stop(cluster)
