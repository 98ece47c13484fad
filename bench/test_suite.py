"""Suite expansion: the 96-job CIFAR matrix, parsed, validated and hashed into job ids."""

from harness.plan.suite import load_suite
from tests.helpers import REPO


def test_expand_cifar_all(benchmark):
    suite = benchmark(load_suite, REPO / "suites" / "cifar_all.yaml")
    assert len(suite.jobs) == 96 and len({j.job_id for j in suite.jobs}) == 96
