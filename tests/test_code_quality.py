"""Lint, format and type checks run as part of the test command, so CI and developers see the same result.

Without ``CI`` set, a missing tool skips its check (with the reason shown by ``-rs``); with
``CI`` set to any non-empty value, a missing tool fails the check, so a CI image without the
dev extra cannot pass by skipping.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
INSTALL_HINT = "install the dev extra: pip install -e '.[dev]'"


def _find_tool(name: str) -> str | None:
    """The tool next to this interpreter (the venv's), else the one on PATH, else None."""
    found = Path(sys.executable).with_name(name)
    if found.exists():
        return str(found)
    return shutil.which(name)


def _tool_or_fail(name: str) -> str:
    """Path of ``name``; if it is missing, fail when ``CI`` is set and skip otherwise."""
    path = _find_tool(name)
    if path is not None:
        return path
    message = f"{name} is not installed; {INSTALL_HINT}"
    if os.environ.get("CI"):
        pytest.fail(f"CI is set and {message}", pytrace=False)
    pytest.skip(message)


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), cwd=REPO, capture_output=True, text=True, timeout=600)


def test_ruff_clean() -> None:
    proc = _run(_tool_or_fail("ruff"), "check", ".")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_format_clean() -> None:
    proc = _run(_tool_or_fail("ruff"), "format", "--check", ".")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_clean() -> None:
    proc = _run(_tool_or_fail("mypy"))
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]


MISSING = "cdp-spark-no-such-tool-3f9c"


def test_missing_tool_fails_when_ci_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception) as info:
        _tool_or_fail(MISSING)
    assert MISSING in str(info.value) and "pip install -e '.[dev]'" in str(info.value)


def test_missing_tool_skips_without_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception) as info:
        _tool_or_fail(MISSING)
    assert MISSING in str(info.value) and "pip install -e '.[dev]'" in str(info.value)


def test_empty_ci_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "")
    with pytest.raises(pytest.skip.Exception):
        _tool_or_fail(MISSING)


def test_installed_tool_is_found_whatever_ci_says(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "1")
    assert Path(_tool_or_fail(Path(sys.executable).name)).exists()
