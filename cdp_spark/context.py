"""The object every stage receives: config, SparkSession, runtime, table store, workspace."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cdp_spark.config import Config
from cdp_spark.session import RuntimeInfo, build_session
from cdp_spark.storage import TableStore, open_store
from cdp_spark.workspace import Workspace

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)


@dataclass
class CdpContext:
    """Built once per process (CLI command, job or notebook) and passed to stages."""

    config: Config
    spark: SparkSession
    runtime: RuntimeInfo
    store: TableStore
    workspace: Workspace

    @classmethod
    def create(cls, config: Config) -> CdpContext:
        """Start (or join) Spark, decide the runtime and open the matching store."""
        spark, runtime = build_session(config.settings)
        return cls.attach(config, spark, runtime)

    @classmethod
    def attach(cls, config: Config, spark: SparkSession, runtime: RuntimeInfo) -> CdpContext:
        """Use an existing session (notebooks, tests) with this config's workspace."""
        workspace = Workspace.at(config.settings.workspace)
        # The store first: the embedded one refuses a URI workspace before anything is created.
        store = open_store(spark, workspace, config.settings.storage, runtime.kind)
        if workspace.is_local:
            workspace.root.mkdir(parents=True, exist_ok=True)
        return cls(config=config, spark=spark, runtime=runtime, store=store, workspace=workspace)
