"""Declarative tags: ``conf/tags.yaml`` (Spark SQL over ``gold.profiles``) → ``gold.tags``.

Only the entry points are exported; helpers stay private in their modules. Importing the
package registers ``tags.yaml`` with the config loader, so ``cdp-spark validate`` checks it.
"""

from __future__ import annotations

from cdp_spark.tags.config import TagDefinition, TagsConfig, tags_config
from cdp_spark.tags.engine import TagDiff, diff_tags, evaluate_tags, validate_tags

__all__ = [
    "TagDefinition",
    "TagDiff",
    "TagsConfig",
    "diff_tags",
    "evaluate_tags",
    "tags_config",
    "validate_tags",
]
