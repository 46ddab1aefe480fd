"""Identity resolution: identifiers → edges → connected components → person ids.

Only the entry points are exported; helpers stay private in their modules.
"""

from __future__ import annotations

from cdp_spark.identity.components import (
    ConnectedComponentsEngine,
    GraphFramesConnectedComponents,
    NativeConnectedComponents,
    choose_engine,
)
from cdp_spark.identity.config import IdentityConfig
from cdp_spark.identity.graph import RECORDS_SCHEMA, build_edges, extract_identifiers
from cdp_spark.identity.stage import resolve_identities, run_identity, unlink

__all__ = [
    "RECORDS_SCHEMA",
    "ConnectedComponentsEngine",
    "GraphFramesConnectedComponents",
    "IdentityConfig",
    "NativeConnectedComponents",
    "build_edges",
    "choose_engine",
    "extract_identifiers",
    "resolve_identities",
    "run_identity",
    "unlink",
]
