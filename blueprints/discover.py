"""Drafting a blueprint from the spans seen: steps from the busiest service/span names, flows from the
transitions journeys actually make, lanes guessed from span kind and actor attributes, stages by position.

The draft is a starting point for a person to edit, written in the blueprint format
(docs/blueprint-format.md). Two queries gather the evidence (:func:`discover`); :func:`draft_blueprint` and
:func:`draft_yaml` are pure.

Guesses, in order: a span's `blueprint.lane` attribute; a person (`actor.type`) at a touchpoint is the
customer on the journey's first step and frontstage afterwards; a server span or a span at a touchpoint is
frontstage; client, producer and consumer spans (calls to other systems, queues) are support; anything
else is backstage.
"""

from __future__ import annotations

import io
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ruamel.yaml import YAML

from collectors.schema import TRACES_TABLE

LANES = ("evidence", "customer", "frontstage", "backstage", "support")
ACTORS = ("person", "process", "system")
CHANNELS = ("web", "mobile", "phone", "store", "email", "chat", "mail", "other")
STAGES = (("begin", "Begin"), ("middle", "Middle"), ("end", "End"))
_SLUG = re.compile(r"[^a-z0-9]+")


class DiscoveryUnavailable(RuntimeError):
    """ClickHouse could not answer a discovery query; the message says which and why."""


@dataclass(frozen=True)
class DiscoverOptions:
    """How much of what was seen becomes part of the draft."""

    blueprint_id: str = "discovered"
    max_steps: int = 25
    min_spans: int = 3  # names seen fewer times are left out
    min_flow_share: float = 0.05  # transitions taken by fewer of a step's journeys are left out
    journey_key: str = "journey.id"  # used when the spans carry it, else journeys are traces

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,62}", self.blueprint_id):
            raise ValueError(f"blueprint id {self.blueprint_id!r} must match [a-z0-9][a-z0-9-]{{0,62}}")


@dataclass(frozen=True)
class Candidate:
    """A service/span name (and `blueprint.step`, where spans carry it) seen often enough to be a step."""

    service: str
    span_name: str
    step_attribute: str
    spans: int
    errors: int
    kind: str
    actor_type: str
    lane: str
    touchpoint: str
    channel: str


@dataclass(frozen=True)
class Draft:
    """A drafted blueprint: the document, its YAML, and how much evidence it rests on."""

    document: dict[str, Any]
    yaml: str
    spans: int
    journeys: int


def discover(client: Any, start: datetime, end: datetime, options: DiscoverOptions | None = None) -> Draft:
    """Draft a blueprint from the spans in [start, end)."""
    options = options or DiscoverOptions()
    params = {
        "from": start,
        "to": end,
        "limit": options.max_steps,
        "min": options.min_spans,
        "key": options.journey_key,
    }
    names = _query(client, _CANDIDATES_SQL, params)
    candidates = [Candidate(*row[:10]) for row in names]
    keyed = bool(names) and any(row[10] for row in names)
    transitions: list[tuple[int, int, int, float]] = []
    journeys = 0
    if candidates:
        hashes = [_candidate_hash_args(c) for c in candidates]
        rows = _query(client, _TRANSITIONS_SQL, {**params, "hashes": hashes, "keyed": int(keyed)})
        transitions = [(int(a), int(b), int(n), float(p)) for a, b, n, p in rows]
        journeys = sum(n for a, _, n, _ in transitions if a == 0)
    document = draft_blueprint(candidates, transitions, options, keyed)
    return Draft(
        document=document,
        yaml=draft_yaml(document),
        spans=sum(c.spans for c in candidates),
        journeys=journeys,
    )


def draft_blueprint(
    candidates: list[Candidate],
    transitions: list[tuple[int, int, int, float]],
    options: DiscoverOptions,
    keyed: bool,
) -> dict[str, Any]:
    """The blueprint document: `transitions` are (from, to, journeys, mean position of `to`) with 1-based
    candidate indexes and 0 for a journey's beginning (as from) or end (as to)."""
    ids = _step_ids(candidates)
    position: dict[int, list[float]] = defaultdict(lambda: [0.0, 0.0])
    outgoing: dict[int, int] = defaultdict(int)
    for a, b, n, mean_position in transitions:
        outgoing[a] += n
        if b:
            position[b][0] += mean_position * n
            position[b][1] += n
    first_share = {b: n / max(1, outgoing[0]) for a, b, n, _ in transitions if a == 0 and b}
    where = {
        i: position[i][0] / position[i][1] if position[i][1] else 0.5 for i in range(1, len(candidates) + 1)
    }
    order = sorted(
        where, key=lambda i: (where[i], -candidates[i - 1].spans, i)
    )  # as journeys go, left to right
    steps = []
    touchpoints: dict[str, str] = {}
    for index in order:
        candidate = candidates[index - 1]
        lane = _lane(candidate, first_share.get(index, 0.0) >= 0.5)
        step: dict[str, Any] = {
            "id": ids[index - 1],
            "name": candidate.step_attribute or candidate.span_name,
            "lane": lane,
            "stage": STAGES[min(len(STAGES) - 1, int(where[index] * len(STAGES)))][0],
            "actor": candidate.actor_type
            if candidate.actor_type in ACTORS
            else ("person" if lane == "customer" else "system"),
        }
        if candidate.touchpoint:
            step["touchpoint"] = _slug(candidate.touchpoint)
            touchpoints.setdefault(
                step["touchpoint"], candidate.channel if candidate.channel in CHANNELS else "other"
            )
        select: dict[str, Any] = {"service": candidate.service}
        if candidate.step_attribute:
            select["step"] = candidate.step_attribute
        else:
            select["span"] = _span_pattern(candidate.span_name)
        step["select"] = select
        steps.append(step)
    rank = {index: n for n, index in enumerate(order)}

    def kept(a: int, n: int) -> bool:
        return n / max(1, outgoing[a]) >= options.min_flow_share

    flows: dict[str, list[str]] = {}
    for a, b, n, _ in sorted(transitions, key=lambda t: (rank.get(t[0], -1), -t[2], rank.get(t[1], -1))):
        if a and b and kept(a, n):
            flows.setdefault(ids[a - 1], []).append(ids[b - 1])
    starts = [
        ids[b - 1] for a, b, n, _ in sorted(transitions, key=lambda t: -t[2]) if a == 0 and b and kept(0, n)
    ]
    ends = [
        ids[a - 1] for a, b, n, _ in sorted(transitions, key=lambda t: -t[2]) if b == 0 and a and kept(a, n)
    ]
    used_stages = {step["stage"] for step in steps}
    document: dict[str, Any] = {
        "id": options.blueprint_id,
        "name": options.blueprint_id.replace("-", " ").capitalize(),
        "description": "Drafted from observed spans: check lanes, names and flows before relying on it.",
        "correlation": {"key": options.journey_key if keyed else "trace_id", "timeout": "1h"},
        "stages": [{"id": sid, "name": name} for sid, name in STAGES if sid in used_stages],
    }
    if touchpoints:
        document["touchpoints"] = [
            {"id": t, "name": t.replace("-", " ").capitalize(), "channel": c} for t, c in touchpoints.items()
        ]
    document["steps"] = steps
    document["flows"] = [{"from": a, "to": b[0] if len(b) == 1 else b} for a, b in flows.items()]
    if starts:
        document["start"] = starts
    if ends:
        document["end"] = ends
    return document


def draft_yaml(document: dict[str, Any]) -> str:
    """The document as blueprint YAML, keys in the format's order."""
    yaml = YAML()
    yaml.default_flow_style = False
    yaml.width = 110
    out = io.StringIO()
    yaml.dump(document, out)
    return out.getvalue()


def _query(client: Any, sql: str, params: dict[str, Any]) -> list[Any]:
    try:
        return list(client.query(sql, parameters=params).result_rows)
    except Exception as exc:  # clickhouse-connect raises several types; all mean the same to the caller
        raise DiscoveryUnavailable(f"discovering a blueprint: ClickHouse refused a query: {exc}") from exc


def _lane(candidate: Candidate, usually_first: bool) -> str:
    if candidate.lane in LANES:
        return candidate.lane
    if candidate.actor_type == "person" and candidate.touchpoint:
        return "customer" if usually_first else "frontstage"
    if candidate.kind == "Server" or candidate.touchpoint:
        return "frontstage"
    if candidate.kind in ("Client", "Producer", "Consumer"):
        return "support"
    return "backstage"


def _span_pattern(name: str) -> str:
    """The span name as a selector: exact, unless it would read as a glob or regex."""
    if "*" in name or "?" in name or name.startswith("re:"):
        return "re:^" + re.escape(name) + "$"
    return name


def _step_ids(candidates: list[Candidate]) -> list[str]:
    ids: list[str] = []
    for candidate in candidates:
        base = _slug(candidate.step_attribute or candidate.span_name) or "step"
        if base in ids:
            base = _slug(f"{candidate.service} {base}")
        name, n = base, 2
        while name in ids:
            name, n = f"{base}-{n}", n + 1
        ids.append(name)
    return ids


def _slug(text: str) -> str:
    return _SLUG.sub("-", text.lower()).strip("-")[:60]


def _candidate_hash_args(candidate: Candidate) -> str:
    return "\x1f".join((candidate.service, candidate.span_name, candidate.step_attribute))


_CANDIDATES_SQL = f"""
SELECT
    ServiceName, SpanName, SpanAttributes['blueprint.step'] AS step_attribute,
    count() AS spans, countIf(StatusCode = 'Error') AS errors,
    topK(1)(SpanKind)[1] AS kind,
    topK(1)(SpanAttributes['actor.type'])[1] AS actor_type,
    topK(1)(SpanAttributes['blueprint.lane'])[1] AS lane,
    topK(1)(SpanAttributes['touchpoint.id'])[1] AS touchpoint,
    topK(1)(SpanAttributes['touchpoint.channel'])[1] AS channel,
    countIf(SpanAttributes[{{key:String}}] != '') AS keyed
FROM {TRACES_TABLE}
WHERE Timestamp >= {{from:DateTime64(9)}} AND Timestamp < {{to:DateTime64(9)}}
GROUP BY ServiceName, SpanName, step_attribute
HAVING spans >= {{min:UInt32}}
ORDER BY spans DESC, ServiceName, SpanName, step_attribute
LIMIT {{limit:UInt32}}
"""

# Journeys by key (or trace); each journey's candidate steps in start order; transitions between them, with
# 0 standing for the journey's beginning and end, and each step's mean relative position in its journey.
_TRANSITIONS_SQL = f"""
SELECT prev, cur, count() AS journeys, avg(position) AS position
FROM (
    SELECT
        seq,
        arrayPopBack(arrayPushFront(seq, toUInt32(0))) AS prevs,
        arrayMap(i -> (i - 1) / greatest(n - 1, 1), arrayEnumerate(seq)) AS positions
    FROM (
        SELECT arraySort(groupArray((start, step))).2 AS seq, length(seq) AS n
        FROM (
            SELECT
                toUInt32(indexOf({{hashes:Array(String)}},
                        concat(ServiceName, '\\x1f', SpanName, '\\x1f',
                               SpanAttributes['blueprint.step']))) AS step,
                toUnixTimestamp64Nano(Timestamp) AS start,
                if({{keyed:UInt8}} = 1 AND SpanAttributes[{{key:String}}] != '',
                   SpanAttributes[{{key:String}}], TraceId)
                    AS journey
            FROM {TRACES_TABLE}
            WHERE Timestamp >= {{from:DateTime64(9)}} AND Timestamp < {{to:DateTime64(9)}}
        )
        WHERE step > 0
        GROUP BY journey
    )
)
ARRAY JOIN
    arrayConcat(seq, [toUInt32(0)]) AS cur,
    arrayConcat(prevs, [seq[-1]]) AS prev,
    arrayConcat(positions, [1.0]) AS position
GROUP BY prev, cur
"""
