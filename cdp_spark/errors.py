"""The exceptions cdp-spark raises on purpose.

Every message says what was expected, what was found and what to do, because the
people reading them are usually on call for a nightly job, not the authors.
"""

from __future__ import annotations


class CdpSparkError(Exception):
    """Base class: catching it catches every error cdp-spark raises deliberately."""

    exit_code: int = 1


class ConfigError(CdpSparkError):
    """A configuration file (or override) is invalid; ``problems`` lists every issue found."""

    exit_code = 2

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        noun = "problem" if len(self.problems) == 1 else "problems"
        super().__init__(f"{len(self.problems)} configuration {noun}:\n  " + "\n  ".join(self.problems))


class RuntimeUnavailableError(CdpSparkError):
    """A runtime, JVM library or Java installation that was asked for cannot be used here."""

    exit_code = 3


class WorkspaceNotLocalError(RuntimeUnavailableError):
    """The workspace is a URI (``s3://``, ``abfss://``, ``dbfs:/`` ...) and what was asked needs a
    local folder: the embedded runtime, or a command that uses the local file system."""


class SchemaContractError(CdpSparkError):
    """Data does not match a table's schema and the change is not an allowed evolution."""


class TableNotFoundError(CdpSparkError):
    """A logical table was read before anything created it."""


class TableConflictError(CdpSparkError):
    """A concurrent commit touched the same data and retries did not resolve it."""


class QualityGateError(CdpSparkError):
    """A data-quality or identity gate failed; nothing was published."""

    exit_code = 4


class ConcurrentRunError(CdpSparkError):
    """Another run holds the lock for the same pipeline and date."""

    exit_code = 5
