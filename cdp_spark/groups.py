"""Pipeline groups (``conf/pipelines.yaml``): which stages ``cdp-spark run GROUP`` runs, in order.

A group is what a scheduler triggers on its own cadence: ``nightly`` every night,
``maintenance`` weekly, ``train`` when models are retrained, ``activate`` per destination,
``erase`` when privacy requests are due. Stages declare their dependencies in code; a group
lists stages in an order that respects them. A dependency outside the group is allowed when
another group runs it (``activate`` reads what ``nightly`` built), so it is checked by name
only.

Without a ``pipelines.yaml`` (tests with their own stage registry, an embedded notebook
config) every stage falls back to the group it names at registration, ``nightly`` by default.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field, field_validator

from cdp_spark.config import DomainFile, StrictModel, register_domain_file

if TYPE_CHECKING:
    from pydantic import BaseModel

    from cdp_spark.config import Config
    from cdp_spark.pipeline import Stage

PIPELINES_FILE = "pipelines.yaml"


class GroupSpec(StrictModel):
    """One group: its stages in run order."""

    description: str = ""
    stages: list[str] = Field(default_factory=list)

    @field_validator("stages")
    @classmethod
    def _once(cls, value: list[str]) -> list[str]:
        repeated = sorted({s for s in value if value.count(s) > 1})
        if repeated:
            raise ValueError(f"stages listed more than once: {repeated}")
        return value


class PipelinesConfig(StrictModel):
    """``conf/pipelines.yaml``."""

    groups: dict[str, GroupSpec] = Field(default_factory=dict)


def group_stages(config: Config | None) -> dict[str, GroupSpec]:
    """Groups by name: from ``pipelines.yaml`` when present, else from the registrations."""
    from cdp_spark.pipeline import NIGHTLY, registered_stages

    if config is not None and PIPELINES_FILE in config.domains:
        model: PipelinesConfig = config.domain(PIPELINES_FILE)  # type: ignore[assignment]
        return dict(model.groups)
    groups: dict[str, GroupSpec] = {NIGHTLY: GroupSpec()}
    for st in registered_stages().values():
        groups.setdefault(st.group, GroupSpec()).stages.append(st.name)
    return groups


def problems(groups: dict[str, GroupSpec], stages: dict[str, Stage], where: str) -> list[str]:
    """Unknown stages, and dependencies listed after their dependant, each with its key."""
    out: list[str] = []
    member = {name for g in groups.values() for name in g.stages}
    for group, spec in groups.items():
        seen: set[str] = set()
        for i, name in enumerate(spec.stages):
            key = f"{where}: groups.{group}.stages[{i}]"
            if name not in stages:
                out.append(f"{key}: unknown stage {name!r}; registered stages: {', '.join(stages)}")
                continue
            for dep in stages[name].depends_on:
                if dep in spec.stages and dep not in seen:
                    out.append(f"{key}: {name!r} depends on {dep!r}, which the group lists after it")
                elif dep not in spec.stages and dep not in member:
                    out.append(f"{key}: {name!r} depends on {dep!r}, which no group runs")
            seen.add(name)
    return out


def _check(model: BaseModel, config: Config) -> list[str]:
    from cdp_spark.pipeline import registered_stages

    where = str(config.conf_dir / PIPELINES_FILE) if config.conf_dir else PIPELINES_FILE
    return problems(dict(model.groups), registered_stages(), where)  # type: ignore[attr-defined]


register_domain_file(DomainFile(PIPELINES_FILE, PipelinesConfig, check=_check))
