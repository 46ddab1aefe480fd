"""Pipeline groups of conf/pipelines.yaml: plans without Spark, validation naming file and key."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

from cdp_spark.config import load_config
from cdp_spark.errors import CdpSparkError, ConfigError
from cdp_spark.facade import Cdp


def _conf_copy(tmp_path: Path, pipelines: str) -> Path:
    conf = tmp_path / "conf"
    shutil.copytree(REPO / "conf", conf)
    (conf / "pipelines.yaml").write_text(pipelines)
    return conf / "local.yaml"


def test_the_shipped_groups_plan_in_dependency_order() -> None:
    cdp = Cdp.open(conf=REPO / "conf" / "local.yaml")
    assert cdp.plan("nightly") == ["ingest", "cleanse", "identity", "profile", "tags"]
    assert cdp.plan("maintenance") == ["maintenance"]
    assert cdp.plan("train") == [] and cdp.plan("erase") == [] and cdp.plan("activate") == []
    assert cdp.plan("identity") == ["identity"]  # one stage by name
    with pytest.raises(
        CdpSparkError, match="unknown stage 'weekly'; known groups and stages: nightly, train"
    ):
        cdp.plan("weekly")


def test_unknown_stage_and_wrong_order_are_reported_with_file_and_key(tmp_path: Path) -> None:
    main = _conf_copy(
        tmp_path,
        "groups:\n  nightly:\n    stages: [cleanse, ingest, identity, tagz]\n"
        "  weekly:\n    stages: [profile]\n",
    )
    with pytest.raises(ConfigError) as err:
        load_config(main)
    problems = err.value.problems
    where = str(main.parent / "pipelines.yaml")
    assert (
        f"{where}: groups.nightly.stages[0]: 'cleanse' depends on 'ingest', which the group lists after it"
        in problems
    )
    assert any(p.startswith(f"{where}: groups.nightly.stages[3]: unknown stage 'tagz'") for p in problems)
    assert len(problems) == 2  # profile's dependency (identity) runs in nightly: allowed


def test_a_stage_listed_twice_or_an_unknown_key_is_an_error(tmp_path: Path) -> None:
    main = _conf_copy(tmp_path, "groups:\n  nightly:\n    stages: [ingest, ingest]\n    when: daily\n")
    with pytest.raises(ConfigError) as err:
        load_config(main)
    text = str(err.value)
    assert "groups.nightly.stages" in text and "listed more than once" in text
    assert "groups.nightly.when" in text


@pytest.mark.parametrize("group", ["nightly", "train", "erase", "maintenance"])
def test_cli_plan_prints_the_order_without_spark(group: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "cdp_spark.cli", "plan", group],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    expected = {
        "nightly": "ingest,cleanse,identity,profile,tags",
        "train": "-",
        "erase": "-",
        "maintenance": "maintenance",
    }[group]
    assert proc.stdout.splitlines()[-1] == f"CDP_PLAN target={group} stages={expected}"
    assert "Setting default log level" not in proc.stderr  # Spark never started


def test_options_are_validated_per_stage() -> None:
    from cdp_spark.identity.stage import IdentityOptions
    from cdp_spark.pipeline import plan, stage_options
    from cdp_spark.profile.stage import ProfileOptions

    nightly = plan("nightly", load_config(REPO / "conf" / "local.yaml"))
    got = stage_options(nightly, {"full": True, "accept_merges": True})
    assert got["identity"] == IdentityOptions(full=True, accept_merges=True)
    assert got["profile"] == ProfileOptions(full=True)
    assert type(got["ingest"]).model_fields == {}
    with pytest.raises(CdpSparkError, match=r"option\(s\) fulll not taken by any stage planned"):
        stage_options(nightly, {"fulll": True})
    ingest_only = [s for s in nightly if s.name == "ingest"]
    with pytest.raises(CdpSparkError, match="options by stage: none"):
        stage_options(ingest_only, {"full": True})
    with pytest.raises(CdpSparkError, match="stage identity: invalid options"):
        stage_options(nightly, {"full": "sometimes"})
