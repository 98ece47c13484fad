"""Where jobs run: a job or a seed group end to end (runner), local processes, SLURM arrays, signals, progress."""
