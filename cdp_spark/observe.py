"""Reading ``Observation`` metrics safely.

Stages count rows while a batch is computed (``df.observe``) so reconciliation costs no extra
pass. When the input is provably empty, Spark's optimizer prunes the whole plan, the
``CollectMetrics`` node with it, and ``Observation.get`` fails inside the JVM instead of
returning zeros (Spark 4.1). Callers get ``None`` then and count directly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import Observation


def metrics(observation: Observation) -> dict[str, Any] | None:
    """The observed metrics, or None when Spark pruned the observation away."""
    from py4j.protocol import Py4JJavaError

    try:
        return dict(observation.get)
    except (Py4JJavaError, AssertionError):
        return None
