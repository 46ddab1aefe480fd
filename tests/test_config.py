"""Config loading: strict keys, every problem at once, file and key named, env overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from cdp_spark.config import load_config
from cdp_spark.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def test_shipped_configs_are_valid() -> None:
    for name in ("local.yaml", "cluster.yaml"):
        config = load_config(REPO / "conf" / name, environ={})
        assert config.settings.spark.app_name == "cdp-spark"


def test_defaults_without_any_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(None, environ={})
    assert config.source == "defaults"
    assert config.settings.runtime.mode == "auto"
    assert config.settings.workspace == ".cdp_workspace"


def test_every_problem_reported_with_file_key_value_and_fix(tmp_path: Path) -> None:
    path = tmp_path / "local.yaml"
    path.write_text(
        "workspace: /tmp/x\n"
        "runtime:\n  mode: turbo\n"
        "spark:\n  shuffle_partitons: 4\n  driver_memory: lots\n"
        "storage:\n  commit_retries: three\n"
    )
    with pytest.raises(ConfigError) as err:
        load_config(path, environ={})
    problems = err.value.problems
    assert len(problems) == 4, problems
    text = "\n".join(problems)
    assert f"{path}: runtime.mode: Input should be 'auto', 'embedded' or 'cluster', got \"turbo\"" in text
    assert f"{path}: spark.shuffle_partitons: unknown key; did you mean 'shuffle_partitions'?" in text
    assert f'{path}: spark.driver_memory: expected a JVM memory size such as 2g or 512m, got "lots"' in text
    assert f"{path}: storage.commit_retries:" in text and '"three"' in text


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    path = tmp_path / "local.yaml"
    path.write_text("spark:\n  master: [local\n")
    with pytest.raises(ConfigError, match=r"local.yaml: is not valid YAML at line \d+"):
        load_config(path, environ={})


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.yaml", environ={})


def test_environment_and_explicit_overrides(tmp_path: Path) -> None:
    path = tmp_path / "local.yaml"
    path.write_text("workspace: /from/file\nspark:\n  shuffle_partitions: 4\n")
    env = {
        "CDP_SPARK_WORKSPACE": "/from/env",
        "CDP_SPARK__SPARK__SHUFFLE_PARTITIONS": "16",
        "CDP_SPARK__RUNTIME__MODE": "embedded",
    }
    config = load_config(path, environ=env)
    assert config.workspace == "/from/env"
    assert config.settings.spark.shuffle_partitions == 16
    assert config.settings.runtime.mode == "embedded"
    config = load_config(path, environ=env, overrides={"workspace": "/from/cli"})
    assert config.workspace == "/from/cli"


def test_bad_environment_override_is_reported() -> None:
    with pytest.raises(
        ConfigError, match=r"spark\.shuffle_partitions: Input should be greater than or equal to 1"
    ):
        load_config(None, environ={"CDP_SPARK__SPARK__SHUFFLE_PARTITIONS": "0"})
