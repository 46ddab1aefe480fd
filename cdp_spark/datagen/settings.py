"""``conf/datagen.yaml``: how big the hidden population is, which days to deliver, how dirty.

Every rate is a probability per *eligible* record (see ``NOISE_KINDS`` in
:mod:`cdp_spark.datagen.schemas` for which sources and fields each kind touches), so a test
can check an observed rate against the configured one. Household-level kinds
(``shared_device``, ``family_email``) are probabilities per multi-person household, and
``duplicate_contact`` is a probability per CRM contact.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import Field, model_validator

from cdp_spark.config import StrictModel

# The largest population the id schemes stay collision-free for (see population._bij).
MAX_PERSONS = 8_000_000

Rate = float


def _rate(default: float) -> Any:
    return Field(default=default, ge=0.0, le=1.0)


class LocaleMix(StrictModel):
    """Relative weights of the three locales; households share one locale."""

    zh_CN: float = Field(default=0.5, ge=0.0)  # noqa: N815 - YAML keys are locale codes
    de_DE: float = Field(default=0.3, ge=0.0)  # noqa: N815
    en_US: float = Field(default=0.2, ge=0.0)  # noqa: N815

    @model_validator(mode="after")
    def _some_weight(self) -> LocaleMix:
        if self.zh_CN + self.de_DE + self.en_US <= 0:
            raise ValueError("expected at least one locale weight > 0")
        return self

    def normalised(self) -> dict[str, float]:
        """Weights scaled to sum to 1, in the fixed order zh_CN, de_DE, en_US."""
        total = self.zh_CN + self.de_DE + self.en_US
        return {"zh_CN": self.zh_CN / total, "de_DE": self.de_DE / total, "en_US": self.en_US / total}


class NoiseRates(StrictModel):
    """One configurable rate per noise kind; 0 switches a kind off."""

    typo: Rate = _rate(0.02)
    case_variant: Rate = _rate(0.03)
    phone_format: Rate = _rate(0.3)
    date_format: Rate = _rate(0.3)
    fullwidth_digits: Rate = _rate(0.01)
    missing: Rate = _rate(0.03)
    duplicate: Rate = _rate(0.005)
    late_arrival: Rate = _rate(0.02)
    junk_identifier: Rate = _rate(0.003)
    shared_device: Rate = _rate(0.3)
    family_email: Rate = _rate(0.2)
    duplicate_contact: Rate = _rate(0.03)
    schema_drift: Rate = _rate(0.01)
    broken_json: Rate = _rate(0.0005)
    wrong_column_count: Rate = _rate(0.0005)
    wrong_type: Rate = _rate(0.0005)
    invalid_utf8: Rate = _rate(0.0005)

    @model_validator(mode="after")
    def _malformed_sum(self) -> NoiseRates:
        # One draw decides the malformed kind of a record, so the shares must fit in [0, 1].
        for fmt, kinds in (
            ("JSON", self.broken_json + self.wrong_type + self.invalid_utf8),
            ("CSV", self.wrong_column_count + self.wrong_type + self.invalid_utf8),
        ):
            if kinds > 1.0:
                raise ValueError(f"expected the malformed rates of {fmt} sources to sum to <= 1")
        return self


class DatagenSettings(StrictModel):
    """Parameters of ``cdp-spark generate``; the same values always give the same files."""

    persons: int = Field(default=10_000, ge=1, le=MAX_PERSONS)
    days: int = Field(default=3, ge=1, le=3650)
    seed: int = Field(default=42, ge=0, le=2**31 - 1)
    start_date: date = date(2025, 1, 6)
    locales: LocaleMix = Field(default_factory=LocaleMix)
    noise: NoiseRates = Field(default_factory=NoiseRates)
    story: bool = True
    # Multiplies the behavioural probabilities (events per person and day); 1.0 gives
    # about 2.6 raw records per person and day, i.e. ~18M records for 1M persons x 7 days.
    activity: float = Field(default=1.0, gt=0.0, le=3.0)
    # Target lines per landing file; bigger sources/days are split into part files. It also
    # bounds the work of one task (one part file is written by one task).
    rows_per_file: int = Field(default=500_000, ge=1_000)
