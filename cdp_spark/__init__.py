"""cdp-spark: a Customer Data Platform as a Spark batch engine on Delta Lake.

The public surface is small on purpose; stage packages export their own entry points.
``import cdp_spark`` does not start Spark and does not need delta-spark or GraphFrames.
"""

from __future__ import annotations

from cdp_spark.config import Config, Settings, load_config
from cdp_spark.errors import CdpSparkError, ConfigError, QualityGateError, RuntimeUnavailableError

__version__ = "0.1.0"

__all__ = [
    "CdpSparkError",
    "Config",
    "ConfigError",
    "QualityGateError",
    "RuntimeUnavailableError",
    "Settings",
    "__version__",
    "load_config",
]
