"""The baseline of bench/blueprint_state.py: the live state's figures computed in pandas, vectorised as a
pandas user would write them, from rows already in memory."""

from __future__ import annotations

import fnmatch
import warnings
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from blueprints.journey_graph import journey_graph
from blueprints.state_model import BlueprintState
from collectors.schema import TRACES_TABLE


def load_frame(client: Any, start: datetime, end: datetime) -> pd.DataFrame:
    """The spans of [start, end) with the attributes the state reads already extracted (untimed)."""
    return client.query_df(
        f"""
SELECT ServiceName AS service, SpanName AS span, TraceId AS trace, toUnixTimestamp64Nano(Timestamp) AS start,
       toInt64(start + Duration) AS end, toUInt8(StatusCode = 'Error') AS err,
       SpanAttributes['blueprint.step'] AS step_attr, SpanAttributes['journey.id'] AS journey,
       concat(SpanAttributes['actor.type'], '/', SpanAttributes['actor.id']) AS actor
FROM {TRACES_TABLE} WHERE Timestamp >= {{s:DateTime64(9)}} AND Timestamp < {{e:DateTime64(9)}}
""",
        parameters={"s": start, "e": end},
    )


@dataclass
class PandasFigures:
    """What the pandas computation found, to check it did the same work."""

    counts: dict[int, int]
    errors: dict[int, int]
    edges: dict[tuple[int, int], int]
    wait_means: dict[int, float]
    journeys: int
    completed: int
    extra: dict[str, Any]

    def agrees_with(self, state: BlueprintState) -> bool:
        """True when step counts and errors, edge counts, wait means and journey counts match the state."""
        ids = [s.step_id for s in state.steps]
        ok = all(
            self.counts.get(i + 1, 0) == s.count and self.errors.get(i + 1, 0) == s.errors
            for i, s in enumerate(state.steps)
        )
        ok &= {(ids[a - 1], ids[b - 1]): n for (a, b), n in self.edges.items()} == {
            (e.from_step, e.to_step): e.count for e in state.edges
        }
        for i, s in enumerate(state.steps):
            mine = self.wait_means.get(i + 1)
            ok &= (mine is None and s.wait_mean_s is None) or (
                mine is not None and s.wait_mean_s is not None and abs(mine - s.wait_mean_s) <= 1e-6 * max(1.0, mine)
            )
        ok &= (self.journeys, self.completed) == (state.journey.journeys, state.journey.completed)
        return bool(ok)


def pandas_state(
    frame: pd.DataFrame, blueprint: Any, start: datetime, end: datetime, points: int = 30
) -> PandasFigures:
    """Bind steps, then per-step, series, edge, journey and unmapped figures, as compute_state does."""
    graph = journey_graph(blueprint)
    steps = list(blueprint.steps)
    step = np.zeros(len(frame), dtype=np.int32)
    order = sorted(range(len(steps)), key=lambda i: (-_conditions(getattr(steps[i], "select", None)), i))
    for i in reversed(order):  # the highest precedence is written last
        step[_matches(frame, getattr(steps[i], "select", None)).to_numpy()] = i + 1
    frame = frame.assign(step=step)

    mapped = frame[frame.step > 0]
    tagged = frame[frame.journey != ""]
    trace_journey = tagged.groupby("trace", sort=False).journey.first()
    lent = mapped.trace.map(trace_journey)
    mapped = mapped.assign(jkey=np.where(mapped.journey != "", mapped.journey, lent.fillna(mapped.trace)))
    mapped = mapped.sort_values(["jkey", "start"], kind="stable")
    by_journey = mapped.groupby("jkey", sort=False)
    prev_end = by_journey.end.shift()
    prev_step = by_journey.step.shift(fill_value=0)
    wait = (mapped.start - prev_end).clip(lower=0) / 1e9
    duration = (mapped.end - mapped.start) / 1e9
    mapped = mapped.assign(prev=prev_step, wait=wait, duration=duration)

    per_step = mapped.groupby("step").agg(count=("step", "size"), errors=("err", "sum"), wait_mean=("wait", "mean"))
    quantiles = mapped.groupby("step").duration.quantile([0.5, 0.9, 0.95, 0.99]).unstack()
    wait_p95 = mapped.groupby("step").wait.quantile(0.95)
    bucket_ns = max(1, int((end - start).total_seconds() / points)) * 10**9
    bucket = (mapped.start - int(start.timestamp() * 1e9)) // bucket_ns
    series = (
        mapped.assign(bucket=bucket)
        .groupby(["step", "bucket"])
        .agg(
            count=("step", "size"),
            errors=("err", "sum"),
            p95=("duration", lambda d: d.quantile(0.95)),
            wait=("wait", "mean"),
        )
    )
    moves = mapped[mapped.prev > 0]
    edges = moves.groupby(["prev", "step"]).wait.agg(["count", "mean", "median", lambda w: w.quantile(0.95)])

    index = {s: n + 1 for n, s in enumerate(graph.step_ids)}
    starts = {index[s] for s in graph.start}
    ends = {index[s] for s in graph.end}
    expected = {index[a] * 65536 + index[b] for a, b in graph.expected}
    lanes = np.array([0] + [s.lane for s in graph.steps], dtype=object)
    mapped = mapped.assign(
        is_end=mapped.step.isin(ends),
        unexpected=(mapped.prev > 0) & ~(mapped.prev * 65536 + mapped.step).isin(expected),
        handoff=(mapped.prev > 0)
        & ((mapped.actor != by_journey.actor.shift()) | (lanes[mapped.step] != lanes[mapped.prev])),
        covered_to=by_journey.end.cummax(),
    )
    covered_before = mapped.groupby("jkey", sort=False).covered_to.shift().fillna(mapped.start)
    busy = (mapped.end - np.maximum(mapped.start, covered_before)).clip(lower=0)
    journeys = mapped.assign(busy=busy).groupby("jkey", sort=False).agg(
        first=("step", "first"), last=("step", "last"), last_err=("err", "last"), begin=("start", "min"),
        finish=("end", "max"), n=("step", "size"), distinct=("step", "nunique"), completed=("is_end", "any"),
        unexpected=("unexpected", "any"), handoffs=("handoff", "sum"), busy=("busy", "sum"),
    )  # fmt: skip
    began = journeys[journeys["first"].isin(starts)]
    reference = int(end.timestamp() * 1e9)
    dropped = began[~began.completed & (reference - began.finish >= graph.timeout_s * 1e9)]
    cause = np.select([dropped.last_err == 1, dropped.unexpected], ["error", "wrong_path"], "abandoned")
    drop_off = dropped.assign(cause=cause).groupby(["last", "cause"]).size()
    done = began[began.completed]
    visited = pd.crosstab(mapped.jkey, mapped.step).astype(bool).reindex(began.index)
    skipped = {}
    for required in {r for s in graph.step_ids for r in graph.required_before[s]}:
        r = index[required]
        needs = [index[s] for s in graph.step_ids if required in graph.required_before[s] and index[s] in visited]
        if needs and r in visited:
            skipped[required] = int((visited[needs].any(axis=1) & ~visited[r]).sum())
    unmapped = frame[frame.step == 0].groupby(["service", "span"], observed=True).size().nlargest(10)
    return PandasFigures(
        counts=per_step["count"].to_dict(),
        errors=per_step["errors"].to_dict(),
        edges={(int(a), int(b)): int(n) for (a, b), n in edges["count"].items()},
        wait_means={int(k): float(v) for k, v in per_step["wait_mean"].items() if not np.isnan(v)},
        journeys=len(began),
        completed=len(done),
        extra={
            "quantiles": quantiles, "wait_p95": wait_p95, "series": series, "edges": edges,
            "drop_off": drop_off, "lead": (done.finish - done.begin).mean(), "busy": done.busy.mean(),
            "handoffs": done.handoffs.mean(), "repeats": int((began.distinct < began.n).sum()),
            "skipped": skipped, "unmapped": unmapped,
        },
    )  # fmt: skip


def _conditions(select: Any) -> int:
    if select is None:
        return 0
    return sum(getattr(select, k, None) is not None for k in ("service", "span", "step")) + len(
        getattr(select, "attributes", None) or {}
    )


def _matches(frame: pd.DataFrame, select: Any) -> pd.Series:
    condition = pd.Series(True, index=frame.index)
    if getattr(select, "service", None) is not None:
        condition &= frame.service == select.service
    span = getattr(select, "span", None)
    if span is not None:
        span = str(span)
        if span.startswith("re:"):
            with warnings.catch_warnings():  # groups in a selector regex are for grouping, not extracting
                warnings.simplefilter("ignore", UserWarning)
                condition &= frame.span.str.contains(span[3:], regex=True)
        elif "*" in span or "?" in span:
            condition &= frame.span.str.match(fnmatch.translate(span))
        else:
            condition &= frame.span == span
    if getattr(select, "step", None) is not None:
        condition &= frame.step_attr == select.step
    if getattr(select, "attributes", None):
        raise ValueError("the pandas baseline binds service, span and blueprint.step only")
    return condition
