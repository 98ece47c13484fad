"""`python -m harness`: the CLI, as the processes a launcher starts run it."""

from harness.cli import main

main()
