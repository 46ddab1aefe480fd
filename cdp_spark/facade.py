"""``Cdp``: the one object notebooks, jobs and the CLI use.

::

    from cdp_spark import Cdp

    cdp = Cdp.open("demo-workspace")
    cdp.plan("nightly")                          # stage names, no Spark
    cdp.run("nightly", date(2026, 1, 3))         # a PipelineOutcome
    cdp.tables.read("gold.profiles", version=3)  # a DataFrame
    cdp.profiles.as_of(date(2026, 1, 2))
    cdp.identity.lookup("email", "anna@example.com")

Spark starts on the first call that needs it, so planning, validation and the table catalogue
stay instant. Namespaces group what belongs together, as Splink's linker does; segments,
models, privacy requests and the report join as ``cdp.segments``, ``cdp.models``,
``cdp.privacy`` and ``cdp.report``.

Values returned to the caller may hold personal data (an identity explanation lists the
person's identifiers); nothing here logs or prints them.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from datetime import date, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cdp_spark import catalog
from cdp_spark.config import Config, load_config
from cdp_spark.errors import CdpSparkError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from cdp_spark.catalog import Catalogue, TableSpec
    from cdp_spark.context import CdpContext
    from cdp_spark.pipeline import Callback, PipelineOutcome


class Cdp:
    """A workspace with its configuration; see the module docstring."""

    def __init__(self, config: Config):
        self.config = config

    @classmethod
    def open(
        cls,
        workspace: str | Path | None = None,
        *,
        conf: str | Path | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> Cdp:
        """Load ``conf`` (default ``conf/local.yaml`` or ``$CDP_SPARK_CONFIG``) for ``workspace``
        (default: the config's); ``overrides`` are settings keys, as in the main file."""
        extra = dict(overrides or {})
        if workspace is not None:
            extra["workspace"] = str(workspace)
        return cls(load_config(conf, overrides=extra))

    @cached_property
    def ctx(self) -> CdpContext:
        """The context stages receive. Starts Spark the first time, or joins the session that is
        already active (a notebook's, spark-submit's, Databricks')."""
        from cdp_spark.context import CdpContext

        return CdpContext.create(self.config)

    @property
    def spark(self) -> SparkSession:
        return self.ctx.spark

    @cached_property
    def catalogue(self) -> Catalogue:
        return catalog.for_config(self.config)

    # ---------------------------------------------------------------- pipeline

    def plan(self, group: str) -> list[str]:
        """The stages ``run(group, ...)`` would execute, in order; does not start Spark."""
        from cdp_spark.pipeline import plan

        return [st.name for st in plan(group, self.config)]

    def run(
        self,
        group: str,
        run_date: date,
        *,
        force: bool = False,
        options: Mapping[str, Any] | None = None,
        on_event: Callback | None = None,
    ) -> PipelineOutcome:
        """Run a group (or one stage) for a business date; resumes where a failed run stopped."""
        from cdp_spark.pipeline import run_pipeline

        self.config.require_conf_dir()
        return run_pipeline(self.ctx, group, run_date, force=force, options=options, on_event=on_event)

    def last_run_date(self, group: str = "nightly") -> date | None:
        """The latest date on which every stage of ``group`` succeeded (``ops.runs``)."""
        store = self.ctx.store
        if not store.exists(catalog.OPS_RUNS.name):
            return None
        wanted = set(self.plan(group))
        done: dict[date, set[str]] = {}
        rows = store.read(catalog.OPS_RUNS.name).where("status = 'succeeded'").select("run_date", "stage")
        for row in rows.distinct().collect():
            done.setdefault(row["run_date"], set()).add(row["stage"])
        complete = [d for d, names in done.items() if wanted <= names]
        return max(complete, default=None)

    # ---------------------------------------------------------------- namespaces

    @cached_property
    def tables(self) -> Tables:
        return Tables(self)

    @cached_property
    def profiles(self) -> Profiles:
        return Profiles(self)

    @cached_property
    def identity(self) -> Identity:
        return Identity(self)


class Tables:
    """Catalogued tables: which exist, their rows at any version or time, their history."""

    def __init__(self, cdp: Cdp):
        self._cdp = cdp

    def spec(self, name: str) -> TableSpec:
        """The catalogue entry (layer, owner, keys, PII columns, retention)."""
        return self._cdp.catalogue[name]

    def list(self, layer: str | None = None) -> list[str]:
        """Catalogued tables present in the workspace, in catalogue order."""
        store = self._cdp.ctx.store
        names = [n for n, s in self._cdp.catalogue.items() if layer in (None, s.layer)]
        return [n for n in names if store.exists(n)]

    def read(self, name: str, *, version: int | None = None, as_of: datetime | None = None) -> DataFrame:
        self.spec(name)
        return self._cdp.ctx.store.read(name, version=version, as_of=as_of)

    def history(self, name: str, *, limit: int | None = 10) -> builtins.list[dict[str, Any]]:
        """Newest first: version, timestamp, operation and its parameters."""
        self.spec(name)
        return self._cdp.ctx.store.history(name, limit=limit)


class Profiles:
    """``gold.profiles`` today, or rebuilt for any past date from the rollups."""

    def __init__(self, cdp: Cdp):
        self._cdp = cdp

    def current(self) -> DataFrame:
        return self._cdp.tables.read(catalog.GOLD_PROFILES.name)

    def as_of(self, day: date | None) -> DataFrame:
        """Profiles as they stood at the end of ``day`` (point-in-time features)."""
        from cdp_spark.profile.stage import profiles_as_of

        if day is None:
            raise CdpSparkError(
                "profiles.as_of: no date given (has the nightly run yet? cdp.last_run_date())"
            )
        return profiles_as_of(self._cdp.ctx, day)

    def show(self, ref: str, *, events: int = 15) -> dict[str, Any]:
        """The Customer 360 view of a person id or ``<id_type>:<value>``."""
        from cdp_spark.profile.show import customer_360

        return customer_360(self._cdp.ctx, ref, events=events)


class Identity:
    """Who an identifier belongs to, why a person is who they are, and cutting a wrong link."""

    def __init__(self, cdp: Cdp):
        self._cdp = cdp

    def lookup(self, kind: str, value: str) -> str | None:
        """The person id holding identifier ``kind:value`` (normalised as silver stores it)."""
        from cdp_spark.profile.show import find_person

        return find_person(self._cdp.ctx, kind, value)

    def explain(self, person_id: str) -> dict[str, Any]:
        """The person's identifiers with the records they came from, the kept edges joining
        them, and every identity change that involved the person."""
        from cdp_spark.identity.explain import explain_person

        return explain_person(self._cdp.ctx, person_id)

    def unlink(self, kind: str, value: str, *, reason: str | None = None) -> int:
        """Cut an identifier's links from the next identity run on; returns current matches."""
        from cdp_spark.identity.stage import unlink

        return unlink(self._cdp.ctx, kind, value, reason=reason)
