"""Where data, caches and Inception weights live; each can be moved by an environment variable."""

import os
from pathlib import Path


def cache_dir() -> Path:
    """HARNESS_CACHE, else $XDG_CACHE_HOME/harness, else ~/.cache/harness."""
    if env := os.environ.get("HARNESS_CACHE"):
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "harness"


def data_root(cli_value: str | Path | None = None) -> Path:
    """--data-root, else HARNESS_DATA, else <cache>/data."""
    if cli_value:
        return Path(cli_value).expanduser()
    if env := os.environ.get("HARNESS_DATA"):
        return Path(env).expanduser()
    return cache_dir() / "data"


def inception_weights() -> Path | None:
    """HARNESS_INCEPTION_WEIGHTS, for offline machines; None lets torch-fidelity download its own."""
    env = os.environ.get("HARNESS_INCEPTION_WEIGHTS")
    return Path(env).expanduser() if env else None
