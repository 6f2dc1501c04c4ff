"""The step drill-down's charts and tables, from the aggregates ClickHouse returned (no raw spans)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from dash import dcc, html

from app.components import units
from app.components.trends import build_trend_figure
from blueprints.journey_graph import StepDesign
from blueprints.state_model import Point


def build_step_trends(
    trend: Sequence[Any], waits: Sequence[Point], bucket_s: int, design: StepDesign | None
) -> list[dict[str, Any]]:
    """Four charts: throughput (spans/min), error rate (%) against the availability objective, latency
    p50/p95 (s) against the latency objective, mean wait before the step (s) against `max_wait_s`."""
    times = [p.t for p in trend]
    per_min = [p.spans * 60.0 / bucket_s for p in trend]
    error_rate = [100.0 * p.errors / p.spans if p.spans else None for p in trend]
    availability = design.availability if design else None
    threshold = design.latency_threshold_s if design else None
    percentile = design.latency_percentile if design else None
    return [
        build_trend_figure("Throughput", times, {"spans": per_min}, "spans/min"),
        build_trend_figure(
            "Error rate",
            times,
            {"errors": error_rate},
            "%",
            (1 - availability) * 100 if availability is not None else None,
            "error budget line",
        ),
        build_trend_figure(
            "Latency",
            times,
            {"p50": [p.p50_s for p in trend], "p95": [p.p95_s for p in trend]},
            "s",
            threshold,
            f"p{percentile} objective" if percentile else "objective",
        ),
        build_trend_figure(
            "Wait before the step",
            [p.t for p in waits],
            {"mean wait": [p.wait_mean_s for p in waits]},
            "s",
            design.max_wait_s if design else None,
            "max wait",
        ),
    ]


def build_error_table(errors: Sequence[Any]) -> html.Div:
    """The most frequent error messages with their count and when each was last seen."""
    if not errors:
        return html.P("No failing spans in this window.", className="tp-empty")
    return html.Table(
        [
            html.Tr(
                [html.Th("message"), html.Th("spans", className="num"), html.Th("last seen", className="num")]
            ),
            *(
                html.Tr(
                    [
                        html.Td(e.message or "(no status message)"),
                        html.Td(units.count(e.spans), className="num"),
                        html.Td(units.clock(e.last_seen), className="num"),
                    ]
                )
                for e in errors
            ),
        ],
        className="tp-table",
        id="step-errors-table",
    )


def build_examples_table(examples: Sequence[Any], blueprint_id: str, table_id: str) -> html.Div:
    """Example spans, each linking to its whole journey."""
    if not examples:
        return html.P("None in this window.", className="tp-empty")
    return html.Table(
        [
            html.Tr(
                [
                    html.Th("journey"),
                    html.Th("at", className="num"),
                    html.Th("took", className="num"),
                    html.Th(""),
                ]
            ),
            *(
                html.Tr(
                    [
                        html.Td(
                            dcc.Link(
                                e.journey,
                                href="/journey?"
                                + urlencode({"bp": blueprint_id, "key": e.journey, "at": e.at.isoformat()}),
                            )
                        ),
                        html.Td(units.clock(e.at), className="num"),
                        html.Td(units.duration(e.duration_s), className="num"),
                        html.Td(("✖ " + (e.message or "error")) if e.failed else "", className="tp-small"),
                    ]
                )
                for e in examples
            ),
        ],
        className="tp-table",
        id=table_id,
    )


def build_telltale_table(telltales: Sequence[Any]) -> html.Div:
    """Attribute values far more common among failing spans than among the others."""
    if not telltales:
        return html.P("No attribute value sets the failing spans apart.", className="tp-empty")
    return html.Table(
        [
            html.Tr(
                [
                    html.Th("attribute = value"),
                    html.Th("of failing", className="num"),
                    html.Th("of others", className="num"),
                ]
            ),
            *(
                html.Tr(
                    [
                        html.Td(html.Code(f"{t.key} = {t.value}")),
                        html.Td(f"{units.percent(t.failing_share, 0)} ({t.failing})", className="num"),
                        html.Td(f"{units.percent(t.passing_share, 0)} ({t.passing})", className="num"),
                    ]
                )
                for t in telltales
            ),
        ],
        className="tp-table",
        id="step-telltales-table",
    )
