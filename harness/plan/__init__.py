"""From a suite YAML to jobs: matrices, sweeps and overrides expanded and checked, references built, job status."""
