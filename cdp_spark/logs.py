"""Logging setup for entry points (CLI, jobs/). Library modules only call getLogger."""

from __future__ import annotations

import logging
import sys

_NOISY = ("py4j", "py4j.clientserver", "py4j.java_gateway", "urllib3", "alembic")


def configure_logging(level: str = "INFO") -> None:
    """Human-readable lines on stderr; stdout stays free for results and the final status line."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S"))
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in _NOISY:
        logging.getLogger(name).setLevel(logging.WARNING)
