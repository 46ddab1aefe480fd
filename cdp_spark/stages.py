"""Imports every stage package so their ``@stage`` registrations and config files exist.

Kept in one place so ``cdp-spark run nightly`` and ``cdp-spark validate`` see the same set.
"""

from __future__ import annotations

import importlib
import logging

log = logging.getLogger(__name__)

# Order does not matter: groups (conf/pipelines.yaml) order the stages, checked against their
# declared dependencies.
STAGE_MODULES: tuple[str, ...] = (
    "cdp_spark.ingest",
    "cdp_spark.cleanse.silver",
    "cdp_spark.identity.stage",
    "cdp_spark.profile.stage",
    "cdp_spark.tags.stage",
    "cdp_spark.maintenance",
    "cdp_spark.groups",  # conf/pipelines.yaml, checked against the stages above
)

for _module in STAGE_MODULES:
    importlib.import_module(_module)
