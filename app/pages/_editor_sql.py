"""The editor's live preview: how many spans each draft step's selector matched in the last hour, and the
busiest spans no step matches (candidates to bind). Aggregates only."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from blueprints.selectors import SelectorError, step_index_expression
from blueprints.side_sql import unmapped_query
from blueprints.trace_columns import trace_columns
from collectors.schema import TRACES_TABLE


class PreviewUnavailable(RuntimeError):
    """The preview could not be counted: a selector that cannot become SQL, or ClickHouse refused."""


def as_blueprint(document: Mapping[str, Any]) -> Any:
    """A draft document with attribute access, as the selector builders read blueprints (span attribute
    maps stay mappings)."""

    def convert(value: Any, key: str = "") -> Any:
        if isinstance(value, Mapping):
            if key == "attributes":
                return {str(k): v for k, v in value.items()}
            return SimpleNamespace(**{str(k): convert(v, str(k)) for k, v in value.items()})
        if isinstance(value, list):
            return [convert(v) for v in value]
        return value

    return convert(document)


def match_counts(client: Any, draft: Any, start: datetime, end: datetime) -> dict[str, int]:
    """Spans each step of `draft` binds in [start, end), by step id (steps matching none are absent)."""
    try:
        step = step_index_expression(draft, trace_columns(client), prefix="ed")
        result = client.query(
            f"SELECT {step.sql} AS step, count() AS spans FROM {TRACES_TABLE} "
            "WHERE Timestamp >= {e_from:DateTime64(9)} AND Timestamp < {e_to:DateTime64(9)} "
            "GROUP BY step HAVING step != 0",
            parameters={**step.params, "e_from": start, "e_to": end},
        )
    except SelectorError as exc:
        raise PreviewUnavailable(str(exc)) from exc
    except Exception as exc:  # clickhouse-connect raises several types; all mean the same here
        raise PreviewUnavailable(f"counting the draft's matches failed: {exc}") from exc
    ids = [s.id for s in draft.steps]
    return {ids[int(index) - 1]: int(spans) for index, spans in result.result_rows}


def unmapped(
    client: Any, draft: Any, start: datetime, end: datetime, limit: int = 8, others: Sequence[Any] = ()
) -> list[tuple[str, str, int]]:
    """The busiest (service, span name, spans) no step of `draft` binds in [start, end), leaving out the
    spans a step of another blueprint in `others` binds (they are mapped, just elsewhere)."""
    try:
        query = unmapped_query(draft, start, end, limit * 4 if others else limit, trace_columns(client))
        result = client.query(query.sql, parameters=query.params)
        rows = [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]
        found = [(str(r["service"]), str(r["span_name"]), int(r["spans"])) for r in rows]
        taken = _bound_elsewhere(client, others, {(s, n) for s, n, _ in found}, start, end)
    except SelectorError as exc:
        raise PreviewUnavailable(str(exc)) from exc
    except Exception as exc:  # clickhouse-connect raises several types; all mean the same here
        raise PreviewUnavailable(f"listing unmapped spans failed: {exc}") from exc
    return [row for row in found if (row[0], row[1]) not in taken][:limit]


def _bound_elsewhere(
    client: Any, others: Sequence[Any], pairs: set[tuple[str, str]], start: datetime, end: datetime
) -> set[tuple[str, str]]:
    """Those (service, span name) `pairs` a step of one of `others` binds in [start, end)."""
    taken: set[tuple[str, str]] = set()
    columns = trace_columns(client) if others and pairs else None
    for other in others:
        left = sorted(pairs - taken)
        if not left:
            break
        step = step_index_expression(other, columns, prefix="eo")
        result = client.query(
            f"SELECT ServiceName, SpanName FROM {TRACES_TABLE} "
            "WHERE Timestamp >= {o_from:DateTime64(9)} AND Timestamp < {o_to:DateTime64(9)} "
            "AND (ServiceName, SpanName) IN {o_pairs:Array(Tuple(String, String))} "
            f"AND {step.sql} != 0 GROUP BY ServiceName, SpanName",
            parameters={**step.params, "o_from": start, "o_to": end, "o_pairs": left},
        )
        taken |= {(str(s), str(n)) for s, n in result.result_rows}
    return taken
