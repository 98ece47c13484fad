"""CPU micro-benchmarks (pytest-benchmark). Collected by the plain `pytest` run, where --benchmark-disable makes each a
single call (so CI checks they work); time them with `pytest bench --benchmark-enable` and compare runs with
`--benchmark-autosave` / `--benchmark-compare`."""
