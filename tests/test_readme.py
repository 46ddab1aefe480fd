"""README.md's Python example, run as written against the session's demo workspace.

The example opens ``Cdp.open()`` from the project folder; here the workspace comes from
``CDP_SPARK_WORKSPACE``, the documented override, so the block itself is not edited.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

from conftest import DEMO_MARKS, REPO, DemoRun

pytestmark = list(DEMO_MARKS)


def _first_python_block() -> str:
    match = re.search(r"```python\n(.*?)```", (REPO / "README.md").read_text(), re.S)
    assert match is not None, "README.md has no python block"
    return match.group(1)


def test_the_readme_python_example_runs(demo: DemoRun) -> None:
    code = _first_python_block()
    assert "Cdp.open(" in code
    env = {**os.environ, "CDP_SPARK_WORKSPACE": str(demo.workspace), "PYSPARK_PYTHON": sys.executable}
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, env=env, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = proc.stdout.splitlines()
    assert out[0] == "['ingest', 'cleanse', 'identity', 'profile', 'tags']"
    assert "'gold.profiles'" in out[1] and "'gold.identity_map'" in out[1]
    assert re.search(r"\|\s*person_id\s*\|\s*lifecycle_stage\s*\|\s*orders\s*\|", proc.stdout)
    assert out[-1].startswith("{") and "'email': 'email'" in out[-1]
