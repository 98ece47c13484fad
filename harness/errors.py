"""Errors a user can act on: each carries one line of explanation and the exit code the CLI returns."""


class HarnessError(Exception):
    """A failure with a one-line, user-facing message. Runtime problems exit 1."""

    exit_code = 1


class ConfigError(HarnessError):
    """The suite or the command line is wrong (usage error, exit 2)."""

    exit_code = 2


class DataError(HarnessError):
    """Images are missing or unreadable."""


class EvalError(HarnessError):
    """Scoring cannot run (e.g. no Inception weights)."""
