"""The Customer 360 view of one person (``cdp-spark profile show``), as plain data.

Returned as a dict rather than printed so the CLI, a notebook and the tests share it. Looking
a person up by identifier (``email:x@y.com``) goes through ``gold.identity_map`` after the same
normalisation silver applies, so a user can paste an address or phone number as they have it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as F

from cdp_spark import catalog
from cdp_spark.errors import CdpSparkError
from cdp_spark.identity.config import DEFAULT_ID_TYPES
from cdp_spark.profile.schema import PROFILES

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from cdp_spark.context import CdpContext

IDENTITY_MAP = catalog.GOLD_IDENTITY_MAP.name
TAGS = catalog.GOLD_TAGS.name
EVENTS = catalog.SILVER_EVENTS.name
ORDERS = catalog.SILVER_ORDERS.name


def _normalise(id_type: str, value: str) -> str:
    """The value as silver stores it (lower-case e-mail, E.164 phone by the silver standardiser)."""
    value = value.strip()
    if id_type == "email":
        return value.lower()
    if id_type == "phone":
        from cdp_spark.cleanse.std_phone import normalise_phone

        return normalise_phone(value) or value
    return value


def _identity_map(ctx: CdpContext) -> DataFrame:
    if not ctx.store.exists(IDENTITY_MAP):
        raise CdpSparkError(
            f"{IDENTITY_MAP} does not exist yet: run the pipeline first (cdp-spark run nightly)"
        )
    return ctx.store.read(IDENTITY_MAP)


def find_person(ctx: CdpContext, id_type: str, value: str) -> str | None:
    """The person holding identifier ``id_type:value`` (normalised first), None if nobody does."""
    if id_type not in DEFAULT_ID_TYPES:
        raise CdpSparkError(
            f"unknown identifier type {id_type!r}; expected one of {', '.join(DEFAULT_ID_TYPES)}"
        )
    wanted = _normalise(id_type, value)
    rows = (
        _identity_map(ctx)
        .where((F.col("id_type") == id_type) & (F.col("id_value") == wanted))
        .select("person_id")
        .limit(1)
        .collect()
    )
    return str(rows[0]["person_id"]) if rows else None


def resolve_person(ctx: CdpContext, ref: str) -> str:
    """A person id from ``<person_id>`` or ``<id_type>:<value>``; clear error when unknown."""
    id_type, sep, value = ref.partition(":")
    if sep and id_type in DEFAULT_ID_TYPES:
        person = find_person(ctx, id_type, value)
        if person is None:
            raise CdpSparkError(f"no person has that {id_type} identifier in {IDENTITY_MAP}")
        return person
    if _identity_map(ctx).where(F.col("person_id") == ref).limit(1).count() == 0:
        raise CdpSparkError(
            f"unknown person id {ref!r}; pass a person id or <id_type>:<value> with id_type one of "
            + ", ".join(DEFAULT_ID_TYPES)
        )
    return ref


def customer_360(ctx: CdpContext, ref: str, *, events: int = 15) -> dict[str, Any]:
    """Golden record with provenance, identifiers, tags, lifecycle, behaviour, latest activity."""
    store = ctx.store
    person = resolve_person(ctx, ref)
    ids = (
        store.read(IDENTITY_MAP)
        .where(F.col("person_id") == person)
        .select("id_type", "id_value")
        .orderBy("id_type", "id_value")
        .collect()
    )
    identifiers = [(r["id_type"], r["id_value"]) for r in ids]
    out: dict[str, Any] = {
        "person_id": person,
        "identifiers": identifiers,
        "profile": None,
        "tags": [],
        "events": [],
    }
    if store.exists(PROFILES):
        rows = store.read(PROFILES).where(F.col("person_id") == person).collect()
        if rows:
            out["profile"] = rows[0].asDict(recursive=True)
    if store.exists(TAGS):
        out["tags"] = [
            (r["tag"], r["value"])
            for r in store.read(TAGS).where(F.col("person_id") == person).orderBy("tag").collect()
        ]
    wanted = F.array(*[F.struct(F.lit(t).alias("key"), F.lit(v).alias("value")) for t, v in identifiers])
    recent = []
    for table, what in (
        (EVENTS, F.col("event_type")),
        (ORDERS, F.concat_ws(" ", F.lit("order"), F.col("status"))),
    ):
        if not store.exists(table) or not identifiers:
            continue
        df = store.read(table).where(F.arrays_overlap(F.map_entries(F.col("identifiers")), wanted))
        recent += [
            (r["event_time"], r["channel"], r["source"], r["what"])
            for r in df.select("event_time", "channel", "source", what.alias("what"))
            .orderBy(F.col("event_time").desc())
            .limit(events)
            .collect()
        ]
    out["events"] = sorted(recent, key=lambda e: e[0], reverse=True)[:events]
    return out


GOLDEN_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("name", ("full_name",)),
    ("gender", ("gender",)),
    ("birth_date", ("birth_date", "age")),
    ("address", ("street", "postcode", "city", "country")),
    ("email", ("email",)),
    ("phone", ("phone",)),
)
