"""Why a person is who they are: identifiers, the records behind them, the links that joined them.

A data steward asking "why are these two customers one person?" needs the evidence, not the
map alone: which identifiers the person holds, which source records carried each one, which
kept edges of the last identity run join them (with their trust and sources), and the merges
and splits that shaped the person. Everything comes from tables the identity stage already
writes; nothing is recomputed.

The result holds identifier values: it is for the caller (a notebook, an access request), and
is never logged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as F

from cdp_spark import catalog
from cdp_spark.errors import CdpSparkError

if TYPE_CHECKING:
    from cdp_spark.context import CdpContext


def explain_person(ctx: CdpContext, person_id: str) -> dict[str, Any]:
    """``{"person_id", "identifiers", "links", "changes"}``; raises for an unknown person id."""
    store = ctx.store
    identity_map = catalog.GOLD_IDENTITY_MAP.name
    if not store.exists(identity_map):
        raise CdpSparkError(
            f"{identity_map} does not exist yet: run the pipeline first (cdp-spark run nightly)"
        )
    held = store.read(identity_map).where(F.col("person_id") == person_id)
    nodes = {r["node_id"]: (r["id_type"], r["id_value"]) for r in held.collect()}
    if not nodes:
        raise CdpSparkError(f"unknown person id {person_id!r} in {identity_map}")
    return {
        "person_id": person_id,
        "identifiers": _identifiers(ctx, nodes),
        "links": _links(ctx, nodes),
        "changes": _changes(ctx, person_id),
    }


def _identifiers(ctx: CdpContext, nodes: dict[int, tuple[str, str]]) -> list[dict[str, Any]]:
    """Each identifier with the sources and record ids it was seen in."""
    table = catalog.SILVER_IDENTIFIERS.name
    seen: dict[int, list[tuple[str, str]]] = {n: [] for n in nodes}
    if ctx.store.exists(table):
        rows = (
            ctx.store.read(table)
            .where(F.col("node_id").isin(list(nodes)))
            .select("node_id", "source", "record_id")
            .orderBy("node_id", "source", "record_id")
            .collect()
        )
        for r in rows:
            seen[r["node_id"]].append((r["source"], r["record_id"]))
    return [
        {"id_type": t, "id_value": v, "records": seen[n]}
        for n, (t, v) in sorted(nodes.items(), key=lambda x: x[1])
    ]


def _links(ctx: CdpContext, nodes: dict[int, tuple[str, str]]) -> list[dict[str, Any]]:
    """The kept edges between the person's identifiers, as of the last identity run."""
    table = catalog.SILVER_IDENTITY_EDGES.name
    if not ctx.store.exists(table):
        return []
    ids = list(nodes)
    rows = (
        ctx.store.read(table)
        .where(F.col("kept") & F.col("src").isin(ids) & F.col("dst").isin(ids))
        .select("src", "dst", "trust", "record_count", "sources")
        .collect()
    )
    links = [
        {
            "from": nodes[r["src"]],
            "to": nodes[r["dst"]],
            "trust": r["trust"],
            "records": r["record_count"],
            "sources": list(r["sources"]),
        }
        for r in rows
    ]
    return sorted(links, key=lambda link: (link["from"], link["to"]))


def _changes(ctx: CdpContext, person_id: str) -> list[dict[str, Any]]:
    """Merges, splits and new-person events the person took part in, oldest first."""
    table = catalog.GOLD_IDENTITY_CHANGES.name
    if not ctx.store.exists(table):
        return []
    involved = F.array_contains("person_ids_before", person_id) | F.array_contains(
        "person_ids_after", person_id
    )
    rows = (
        ctx.store.read(table)
        .where(involved)
        .select("run_date", "change", "person_ids_before", "person_ids_after", "identifiers_count", "reason")
        .orderBy("run_date", "change")
        .collect()
    )
    return [r.asDict(recursive=True) for r in rows]
