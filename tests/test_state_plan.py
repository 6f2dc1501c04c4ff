"""Planning a state: which tables answer, how the series is cut, and which windows are refused. Pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from blueprints.rollups import EPOCH, RollupCoverage
from blueprints.state import StateOptions, bucket_seconds, check_window, plan_state

NOW = datetime(2025, 3, 1, 12, 0, 30, tzinfo=UTC)
KEPT = RollupCoverage({"blueprint.step": EPOCH, "agent.role": datetime(2025, 3, 1, 6, 0, tzinfo=UTC)})


def test_short_windows_are_walked_whole_from_raw_spans() -> None:
    plan = plan_state(NOW - timedelta(minutes=15), NOW, NOW, StateOptions(), KEPT, {"blueprint.step"})
    assert plan.source == "raw"
    assert (plan.window.start, plan.window.end, plan.window.bucket_s) == (
        NOW - timedelta(minutes=15),
        NOW,
        30,
    )
    assert (plan.walk.start, plan.walk.end, plan.walk.reference) == (plan.window.start, NOW, NOW)


def test_long_windows_use_the_rollup_in_whole_minutes_and_walk_the_last_minutes() -> None:
    plan = plan_state(NOW - timedelta(hours=24), NOW, NOW, StateOptions(), KEPT, {"blueprint.step"})
    assert plan.source == "rollup"
    assert plan.window.start == datetime(2025, 2, 28, 12, 0, tzinfo=UTC)
    assert plan.window.end == datetime(2025, 3, 1, 12, 1, tzinfo=UTC)
    assert plan.window.bucket_s == 3600 and plan.window.bucket_s % 60 == 0
    assert plan.walk.start == plan.window.end - timedelta(minutes=15)
    assert plan.walk.reference == NOW  # journeys are judged now, not at the minute's end


def test_a_key_kept_only_since_the_window_began_sends_the_window_to_raw_spans() -> None:
    start = NOW - timedelta(hours=12)  # 00:00, before agent.role was kept (06:00)
    plan = plan_state(start, NOW, NOW, StateOptions(), KEPT, {"blueprint.step", "agent.role"})
    assert plan.source == "raw"
    later = plan_state(NOW - timedelta(hours=6), NOW, NOW, StateOptions(), KEPT, {"agent.role"})
    assert later.source == "rollup"


def test_without_a_rollup_every_window_is_raw() -> None:
    plan = plan_state(NOW - timedelta(days=7), NOW, NOW, StateOptions(), None, set())
    assert plan.source == "raw" and plan.walk.start == plan.window.start


@pytest.mark.parametrize(
    ("length_s", "whole_minutes", "bucket"),
    [(900, False, 30), (3600, False, 120), (86400, True, 3600), (600, True, 60), (7 * 86400, True, 21600)],
)
def test_buckets_are_round_and_at_most_thirty(length_s: float, whole_minutes: bool, bucket: int) -> None:
    assert bucket_seconds(length_s, 30, whole_minutes) == bucket


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (
            datetime(2025, 3, 1, 9, 0),
            datetime(2025, 3, 1, 10, 0, tzinfo=UTC),
            "window start 2025-03-01T09:00:00 has no timezone: give an offset such as Z or +02:00",
        ),
        (
            datetime(2025, 3, 1, 10, 0, tzinfo=UTC),
            datetime(2025, 3, 1, 10, 0, tzinfo=UTC),
            "window end 2025-03-01T10:00:00+00:00 must be after its start 2025-03-01T10:00:00+00:00",
        ),
    ],
)
def test_bad_windows_are_refused_with_what_is_expected(start: datetime, end: datetime, message: str) -> None:
    with pytest.raises(ValueError) as refused:
        check_window(start, end)
    assert str(refused.value) == message


def test_options_name_the_sources_they_know() -> None:
    with pytest.raises(ValueError, match="StateOptions.source 'cache' is not one of auto, raw, rollup"):
        StateOptions(source="cache")


def test_queries_travel_without_comment_lines_or_indentation_but_keep_every_clause() -> None:
    from blueprints.sql_text import compact

    readable = "\nWITH\n-- why; not what\nx AS (\n    SELECT 1 AS a  -- kept: it ends its line\n)\n\nSELECT a FROM x\n"
    assert compact(readable) == "WITH\nx AS (\nSELECT 1 AS a  -- kept: it ends its line\n)\nSELECT a FROM x"
