"""Two processes committing to one embedded table at the same moment.

Each child starts its own local Spark, stages its files, then waits at a file barrier so both
commits hit the Delta log together. Appends must both land; two merges rewriting the same
file must end with one winner and, without retries, a clear conflict error for the loser.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

CHILD = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from cdp_spark.config import StorageSettings, load_config
    from cdp_spark.context import CdpContext
    from cdp_spark.errors import TableConflictError
    from cdp_spark.storage.embedded import EmbeddedDeltaStore

    workspace, barriers, who = sys.argv[1:4]
    cfg = load_config(None, environ={}, overrides={
        "workspace": workspace, "runtime": {"mode": "embedded"},
        "spark": {"master": "local[1]", "driver_memory": "768m", "shuffle_partitions": 1}})
    ctx = CdpContext.create(cfg)
    spark = ctx.spark
    real_commit = EmbeddedDeltaStore._commit
    phase = {"name": None, "waited": set()}

    def commit_at_barrier(self, *args, **kwargs):
        # The first commit of each phase waits until both children are staged, then both go.
        name = phase["name"]
        if name not in phase["waited"]:
            phase["waited"].add(name)
            folder = Path(barriers, name)
            folder.mkdir(exist_ok=True)
            (folder / who).write_text("ready")
            deadline = time.time() + 120
            while len(list(folder.iterdir())) < 2 and time.time() < deadline:
                time.sleep(0.01)
        return real_commit(self, *args, **kwargs)

    EmbeddedDeltaStore._commit = commit_at_barrier

    def run(name, retries, action):
        phase["name"] = name
        store = EmbeddedDeltaStore(spark, ctx.workspace, StorageSettings(commit_retries=retries))
        try:
            res = action(store)
            out = {"phase": name, "who": who, "status": "ok", "version": res.version}
        except TableConflictError as exc:
            out = {"phase": name, "who": who, "status": "conflict", "error": str(exc)}
        print("RESULT " + json.dumps(out), flush=True)

    offset = 1000 if who == "b" else 0
    appended = spark.range(100).selectExpr(f"id + {offset} as id", f"'{who}' as writer")
    run("append", 5, lambda st: st.write("silver.shared", appended, mode="append"))
    one = spark.createDataFrame([(1, who)], "id long, writer string")
    run("merge_no_retry", 0, lambda st: st.merge("silver.shared", one, keys=["id"]))
    two = spark.createDataFrame([(2, who)], "id long, writer string")
    run("merge_retry", 5, lambda st: st.merge("silver.shared", two, keys=["id"]))
    """
)


def _run_pair(workspace: Path, tmp_path: Path) -> dict[str, list[dict[str, object]]]:
    barriers = tmp_path / "barriers"
    barriers.mkdir()
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(workspace), str(barriers), who],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for who in ("a", "b")
    ]
    by_phase: dict[str, list[dict[str, object]]] = {}
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=400)
        lines = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
        assert len(lines) == 3, f"child failed (rc={proc.returncode}):\n{stderr[-3000:]}"
        for line in lines:
            result = json.loads(line[len("RESULT ") :])
            by_phase.setdefault(str(result["phase"]), []).append(result)
    return by_phase


@pytest.mark.slow
def test_concurrent_commits(spark, ctx, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from deltalake import DeltaTable

    store = ctx.store
    seed = spark.createDataFrame([(1, "seed"), (2, "seed")], "id long, writer string")
    store.write("silver.shared", seed, mode="append")
    start_version = store.version("silver.shared")

    phases = _run_pair(ctx.workspace.root, tmp_path)

    # 1. Two appends at once: both commit (appends commute), nothing lost.
    assert {r["status"] for r in phases["append"]} == {"ok"}

    # 2. Two merges rewriting the same file, no retries: one wins, the other gets a clear conflict.
    statuses = sorted(str(r["status"]) for r in phases["merge_no_retry"])
    assert statuses == ["conflict", "ok"], phases["merge_no_retry"]
    loser = next(r for r in phases["merge_no_retry"] if r["status"] == "conflict")
    assert "silver.shared" in str(loser["error"]) and "concurrent commit" in str(loser["error"])
    winner = next(r for r in phases["merge_no_retry"] if r["status"] == "ok")["who"]

    # 3. Same race with retries: the loser re-reads and re-applies; both updates commit in turn.
    assert {r["status"] for r in phases["merge_retry"]} == {"ok"}

    table = store.read("silver.shared")
    assert table.count() == 2 + 200, "no committed row may be lost or duplicated"
    assert table.filter("id = 1").collect()[0]["writer"] == winner
    assert table.filter("id = 2").collect()[0]["writer"] in ("a", "b")
    assert store.version("silver.shared") == start_version + 2 + 1 + 2
    assert DeltaTable(store.location("silver.shared")).to_pyarrow_table().num_rows == 202
