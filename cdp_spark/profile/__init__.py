"""Gold profiles: daily rollups per anchor identifier, golden record, behaviour, RFM, lifecycle."""

from cdp_spark.profile.build import build_profiles
from cdp_spark.profile.config import ProfileConfig, profile_config
from cdp_spark.profile.schema import PROFILES, profile_schema

__all__ = ["PROFILES", "ProfileConfig", "build_profiles", "profile_config", "profile_schema"]
