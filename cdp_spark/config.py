"""Declarative configuration: ``conf/*.yaml`` validated into strict pydantic models.

Why strict: a typo such as ``tresholds:`` in a nightly job's YAML must fail on load, not
silently fall back to a default and merge half the customer base. Every problem in every
file is collected and reported at once, as ``file: key.path: what was expected, got X``.

Layout: one *main* file (``conf/local.yaml`` by default, ``--config`` to change) holds the
engine settings below. Domain files (``sources.yaml``, ``identity.yaml``, ``tags.yaml`` ...)
live next to it and are registered by the packages that own them with
:func:`register_domain_file`, so ``cdp-spark validate`` checks all of them without
starting Spark.

Overrides, strongest first: explicit ``overrides`` (CLI flags), environment variables
``CDP_SPARK__SECTION__KEY=value`` (values parsed as YAML scalars) and ``CDP_SPARK_WORKSPACE``,
the YAML file, the defaults in the models.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from cdp_spark.errors import ConfigError

ENV_PREFIX = "CDP_SPARK__"
ENV_WORKSPACE = "CDP_SPARK_WORKSPACE"
ENV_CONFIG = "CDP_SPARK_CONFIG"
DEFAULT_CONFIG_PATH = Path("conf") / "local.yaml"

_MEMORY_RE = re.compile(r"^\d+[kmgt]$", re.IGNORECASE)


class StrictModel(BaseModel):
    """Base for every config model: unknown keys are errors, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class RuntimeSettings(StrictModel):
    """Which runtime to use. ``auto`` probes the JVM classpath for delta-spark."""

    mode: Literal["auto", "embedded", "cluster"] = "auto"
    connected_components: Literal["auto", "native", "graphframes"] = "auto"


class SparkSettings(StrictModel):
    """Session settings used by the embedded runtime (a cluster's own settings win there)."""

    master: str = "local[*]"
    app_name: str = "cdp-spark"
    driver_memory: str = "4g"
    shuffle_partitions: int = Field(default=8, ge=1, le=100_000)
    ui: bool = False
    log_level: Literal["ERROR", "WARN", "INFO", "DEBUG"] = "ERROR"
    # Per run: "small" settings (no code generation, no adaptive execution, a shuffle
    # partition per core) for inputs up to small_input_mb, the session's own above; see sizing.py.
    sizing: Literal["auto", "small", "large"] = "auto"
    small_input_mb: int = Field(default=256, ge=0)
    conf: dict[str, str] = Field(default_factory=dict)

    @field_validator("driver_memory")
    @classmethod
    def _memory(cls, value: str) -> str:
        if not _MEMORY_RE.match(value):
            raise ValueError("expected a JVM memory size such as 2g or 512m")
        return value


class StorageSettings(StrictModel):
    """Table store behaviour shared by both runtimes."""

    allow_schema_evolution: bool = True
    commit_retries: int = Field(default=5, ge=0, le=100)
    vacuum_retention_hours: int = Field(default=168, ge=0)
    optimize_target_file_mb: int = Field(default=128, ge=1)
    checkpoint_interval: int = Field(default=10, ge=1)


class PipelineSettings(StrictModel):
    """Runner behaviour."""

    stale_lock_hours: float = Field(default=12.0, gt=0)


class Settings(StrictModel):
    """The main configuration file."""

    workspace: str = ".cdp_workspace"  # a folder, a file: URI, or s3://, abfss://, dbfs:/ ... (workspace.py)
    runtime: RuntimeSettings = Field(default_factory=RuntimeSettings)
    spark: SparkSettings = Field(default_factory=SparkSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    pipeline: PipelineSettings = Field(default_factory=PipelineSettings)


@dataclass(frozen=True)
class DomainFile:
    """A config file owned by a stage package, e.g. ``sources.yaml`` → ``SourcesConfig``."""

    filename: str
    model: type[BaseModel]
    required: bool = False
    # Cross-file checks (e.g. a tag naming an unknown profile column) go here; return problems.
    check: Callable[[BaseModel, Config], list[str]] | None = None


_DOMAIN_FILES: dict[str, DomainFile] = {}


def register_domain_file(domain: DomainFile) -> None:
    """Called at import time by stage packages so ``validate`` knows their files."""
    _DOMAIN_FILES[domain.filename] = domain


@dataclass(frozen=True)
class Config:
    """The loaded, validated configuration: main settings plus domain files by name."""

    settings: Settings
    conf_dir: Path | None
    source: str
    domains: Mapping[str, BaseModel] = field(default_factory=dict)

    @property
    def workspace(self) -> str:
        return self.settings.workspace

    def domain(self, filename: str) -> BaseModel:
        """A domain config; its defaults when the file is absent and not required."""
        if filename in self.domains:
            return self.domains[filename]
        spec = _DOMAIN_FILES.get(filename)
        if spec is None:
            raise KeyError(f"no config file named {filename!r} is registered")
        return spec.model()

    def require_conf_dir(self) -> Path:
        """The folder of the pipeline's files; running without one would ingest nothing."""
        if self.conf_dir is None:
            raise ConfigError(
                [
                    f"no configuration found: {DEFAULT_CONFIG_PATH} does not exist under {Path.cwd()} "
                    "and neither --config nor $CDP_SPARK_CONFIG is set, so no source, mapping or "
                    "stage file would be read. Run cdp-spark from the project folder, or pass "
                    "--config <project>/conf/local.yaml"
                ]
            )
        return self.conf_dir


def _format_value(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else f'"{value}"'
    return text if len(text) <= 80 else text[:77] + "..."


def _format_errors(filename: str, err: ValidationError, model: type[BaseModel]) -> list[str]:
    problems = []
    for item in err.errors(include_url=False):
        loc = ".".join(str(p) for p in item["loc"]) or "(top level)"
        kind = item["type"]
        if kind == "extra_forbidden":
            allowed = _allowed_keys(model, item["loc"][:-1])
            hint = difflib.get_close_matches(str(item["loc"][-1]), allowed, n=1)
            fix = f"did you mean '{hint[0]}'?" if hint else f"allowed keys: {', '.join(sorted(allowed))}"
            problems.append(f"{filename}: {loc}: unknown key; {fix}")
        elif kind == "missing":
            problems.append(f"{filename}: {loc}: required key is missing")
        else:
            msg = item["msg"].removeprefix("Value error, ")
            problems.append(f"{filename}: {loc}: {msg}, got {_format_value(item.get('input'))}")
    return problems


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    current: Any = model
    for part in loc:
        fields = getattr(current, "model_fields", None)
        if fields is None or part not in fields:
            return []
        annotation = fields[part].annotation
        current = annotation if isinstance(annotation, type) else None
    fields = getattr(current, "model_fields", None)
    return list(fields) if fields else []


def _read_yaml(path: Path, problems: list[str]) -> dict[str, Any] | None:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        problems.append(f"{path}: cannot be read ({exc.strerror}); check the path given to --config")
        return None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problems.append(f"{path}: is not valid YAML{where}: {getattr(exc, 'problem', exc)}")
        return None
    if data is None:
        return {}
    if not isinstance(data, dict):
        problems.append(f"{path}: expected a mapping of keys at the top level, got {type(data).__name__}")
        return None
    return data


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if environ.get(ENV_WORKSPACE):
        out["workspace"] = environ[ENV_WORKSPACE]
    for key, raw in environ.items():
        if not key.startswith(ENV_PREFIX):
            continue
        parts = [p.lower() for p in key[len(ENV_PREFIX) :].split("__") if p]
        if not parts:
            continue
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = yaml.safe_load(raw) if raw != "" else ""
    return out


def _deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def resolve_config_path(path: str | Path | None) -> Path | None:
    """``--config`` if given, else ``$CDP_SPARK_CONFIG``, else ``conf/local.yaml`` if present."""
    if path is not None:
        return Path(path)
    if os.environ.get(ENV_CONFIG):
        return Path(os.environ[ENV_CONFIG])
    return DEFAULT_CONFIG_PATH if DEFAULT_CONFIG_PATH.exists() else None


def load_config(
    path: str | Path | None = None,
    *,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Load and validate the main file and every registered domain file next to it.

    Raises :class:`ConfigError` listing every problem found, in every file.
    """
    _import_domain_packages()
    problems: list[str] = []
    config_path = resolve_config_path(path)
    raw: dict[str, Any] = {}
    if config_path is not None:
        if not config_path.exists():
            raise ConfigError([f"{config_path}: file not found; pass an existing file to --config"])
        raw = _read_yaml(config_path, problems) or {}
    env = os.environ if environ is None else environ
    raw = _deep_merge(raw, _env_overrides(env))
    raw = _deep_merge(raw, overrides or {})
    label = str(config_path) if config_path else "defaults"
    settings: Settings | None = None
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        problems.extend(_format_errors(label, exc, Settings))

    conf_dir = config_path.parent if config_path else None
    domains: dict[str, BaseModel] = {}
    for spec in _DOMAIN_FILES.values():
        file = conf_dir / spec.filename if conf_dir else None
        if file is None or not file.exists():
            if spec.required:
                problems.append(f"{file or spec.filename}: required file is missing")
            continue
        data = _read_yaml(file, problems)
        if data is None:
            continue
        try:
            domains[spec.filename] = spec.model.model_validate(data)
        except ValidationError as exc:
            problems.extend(_format_errors(str(file), exc, spec.model))

    if problems or settings is None:
        raise ConfigError(problems)
    config = Config(settings=settings, conf_dir=conf_dir, source=label, domains=domains)
    for spec in _DOMAIN_FILES.values():
        if spec.check is not None:
            problems.extend(spec.check(config.domain(spec.filename), config))
    if problems:
        raise ConfigError(problems)
    return config


def _import_domain_packages() -> None:
    """Import the stage packages that register domain files (kept lazy to keep import cheap)."""
    import importlib

    for module in ("cdp_spark.stages",):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:  # pragma: no cover - only while packages are absent
            if exc.name != module:
                raise
