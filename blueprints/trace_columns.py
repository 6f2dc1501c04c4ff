"""Convention attributes as columns of their own: `blueprint.step`, `journey.id` and the actor, materialized
on `otel_traces` at insert time so the live state reads three narrow columns instead of searching every
span's attribute map (the map search is most of a state query's cost); and the journey key as a number, so
that grouping spans into journeys reads 8 bytes a span instead of hashing two strings.

The columns are MATERIALIZED: a stock collector's INSERT (which names its columns) fills them without
knowing, `SELECT *` does not show them, and no existing column changes meaning. Parts written before the
migration compute them on read, so answers are the same either way. On a cluster the columns are not added
and the queries fall back to the attribute map.
"""

from __future__ import annotations

import weakref
from typing import Any

from blueprints.selectors import JOURNEY_ATTRIBUTE, TRACE_COLUMNS, SpanColumns
from collectors.schema import TRACES_TABLE, Migration, SchemaOptions, register_migration

MIGRATION_VERSION = 101
JOURNEY_KEY_MIGRATION_VERSION = 103
STEP_COLUMN = "TouchpointStep"
JOURNEY_COLUMN = "TouchpointJourney"
ACTOR_COLUMN = "TouchpointActor"
JOURNEY_KEY_COLUMN = "TouchpointJourneyKey"
# A span's journey as one number: its journey.id, else its trace (the key a cluster shards spans by).
JOURNEY_KEY_EXPRESSION = f"cityHash64(if({JOURNEY_COLUMN} != '', {JOURNEY_COLUMN}, TraceId))"
# The actor of a span as one number: 0 when it carries neither actor.type nor actor.id.
ACTOR_EXPRESSION = (
    "if(SpanAttributes['actor.type'] != '' OR SpanAttributes['actor.id'] != '', "
    "cityHash64(SpanAttributes['actor.type'], SpanAttributes['actor.id']), toUInt64(0))"
)
CONVENTION_COLUMNS = SpanColumns(
    step_attribute=STEP_COLUMN, journey_attribute=JOURNEY_COLUMN, actor=ACTOR_COLUMN, journey_key=JOURNEY_KEY_COLUMN
)
_NAMES = [STEP_COLUMN, JOURNEY_COLUMN, ACTOR_COLUMN, JOURNEY_KEY_COLUMN]

_KNOWN: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


def migration_statements(options: SchemaOptions) -> list[str]:
    """ALTER otel_traces to add the convention columns (nothing on a cluster)."""
    if options.cluster_name:
        return []
    return [
        f"ALTER TABLE {TRACES_TABLE} "
        f"ADD COLUMN IF NOT EXISTS {STEP_COLUMN} LowCardinality(String) "
        f"MATERIALIZED SpanAttributes['blueprint.step'] CODEC(ZSTD(1)), "
        f"ADD COLUMN IF NOT EXISTS {JOURNEY_COLUMN} String "
        f"MATERIALIZED SpanAttributes['{JOURNEY_ATTRIBUTE}'] CODEC(ZSTD(1)), "
        f"ADD COLUMN IF NOT EXISTS {ACTOR_COLUMN} UInt64 MATERIALIZED {ACTOR_EXPRESSION} CODEC(ZSTD(1))"
    ]


def journey_key_statements(options: SchemaOptions) -> list[str]:
    """ALTER otel_traces to add the journey key column (nothing on a cluster)."""
    if options.cluster_name:
        return []
    return [
        f"ALTER TABLE {TRACES_TABLE} ADD COLUMN IF NOT EXISTS {JOURNEY_KEY_COLUMN} UInt64 "
        f"MATERIALIZED {JOURNEY_KEY_EXPRESSION}"
    ]


def trace_columns(client: Any) -> SpanColumns:
    """The columns to read `otel_traces` with: the convention columns where this database has them.

    Asked once per client; a database migrated later is noticed by a new client.
    """
    known = _KNOWN.get(client)
    if known is None:
        rows = client.query(
            "SELECT count() FROM system.columns WHERE database = currentDatabase() AND table = {t:String} "
            "AND has({names:Array(String)}, name)",
            parameters={"t": TRACES_TABLE, "names": _NAMES},
        ).result_rows
        known = int(rows[0][0]) == len(_NAMES)
        try:
            _KNOWN[client] = known
        except TypeError:  # a client that cannot be weakly referenced is simply asked again next time
            pass
    return CONVENTION_COLUMNS if known else TRACE_COLUMNS


register_migration(
    Migration(MIGRATION_VERSION, "blueprint.step, journey.id and actor as columns", migration_statements)
)
register_migration(Migration(JOURNEY_KEY_MIGRATION_VERSION, "the journey key as a number", journey_key_statements))
