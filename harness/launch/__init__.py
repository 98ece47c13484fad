"""Where jobs run: one job end to end (runner), local processes, SLURM arrays, and what a person sees meanwhile."""
