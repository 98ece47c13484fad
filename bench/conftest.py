"""CPU micro-benchmarks (pytest-benchmark). Collected by the plain `pytest` run, where --benchmark-disable makes each a
single call (so CI checks they work); time them with `pytest bench --benchmark-enable -n 0` (pytest-benchmark does
not time under xdist) and compare runs with `--benchmark-autosave` / `--benchmark-compare`."""

from tests.conftest import inception_weights  # noqa: F401  (the scoring benchmark's weights, built or skipped as there)
