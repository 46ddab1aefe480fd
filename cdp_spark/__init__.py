"""cdp-spark: a Customer Data Platform as a Spark batch engine on Delta Lake.

The public surface is :class:`Cdp` (``Cdp.open(workspace)``: run groups, read tables, profiles,
identity) and the configuration and error types. ``import cdp_spark`` does not start Spark and
does not need delta-spark or GraphFrames.
"""

from __future__ import annotations

from cdp_spark.config import Config, Settings, load_config
from cdp_spark.errors import CdpSparkError, ConfigError, QualityGateError, RuntimeUnavailableError
from cdp_spark.facade import Cdp

__version__ = "0.1.0"

__all__ = [
    "Cdp",
    "CdpSparkError",
    "Config",
    "ConfigError",
    "QualityGateError",
    "RuntimeUnavailableError",
    "Settings",
    "__version__",
    "load_config",
]
