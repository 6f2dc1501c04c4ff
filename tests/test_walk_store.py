"""Journeys walked ahead (blueprints.walk_store): a state read partly from the store is the state walked
live, whatever the window, the judging time, late spans or blueprint edits."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bench.blueprint_state import generate, load_blueprint
from blueprints.state import compute_state
from blueprints.walk_store import Walker, WalkStore
from collectors.clickhouse_writer import SpanWriter
from collectors.db import connect
from collectors.schema import TRACES_TABLE
from tests.state_scenario import origin

DAY = 40
START = origin(DAY)


def _figures(state):  # noqa: ANN001, ANN202 - the state without its timing
    return state.model_dump(exclude={"query_ms"})


def _ahead_and_live(ch, bp, start, end, walks, now=None):  # noqa: ANN001, ANN202
    """The figures of the state of [start, end) judged at `now` (the end by default): read with `walks`, and
    walked live."""
    now = now or end
    ahead = compute_state(ch, bp, start, end, now, walks=walks)
    return _figures(ahead), _figures(compute_state(ch, bp, start, end, now))


def _walked(ch, day, spans, walked_minutes):  # noqa: ANN001, ANN202
    """About `spans` spans of 20-step journeys over 15 minutes of test day `day`, the first `walked_minutes`
    walked ahead: (start, blueprint, store, stored walk)."""
    start = origin(day)
    generate(ch, start, 900, spans)
    bp = load_blueprint()
    store = WalkStore()
    stored = store.refresh(ch, bp, start, start=start, watermark=start + timedelta(minutes=walked_minutes))
    return start, bp, store, stored


@pytest.fixture(scope="module")
def walked(ch):  # noqa: ANN001, ANN201 - 20,000 spans of 20-step journeys over 15 minutes, 10 walked ahead
    generate(ch, START, 900, 20_000)
    store = WalkStore()
    stored = store.refresh(ch, load_blueprint(), START, start=START, watermark=START + timedelta(minutes=10))
    assert stored is not None
    return store


@pytest.mark.parametrize(
    ("offset_s", "length_s"),
    [(0, 600), (120, 300), (37.5, 500), (300, 600)],
    ids=["the walked period", "inside it", "cutting journeys", "past the watermark"],
)
def test_a_state_from_the_store_is_the_state_walked_live(ch, walked, offset_s, length_s) -> None:  # noqa: ANN001
    bp = load_blueprint()
    start = START + timedelta(seconds=offset_s)
    end = start + timedelta(seconds=length_s)
    before = walked.stats.answered
    ahead, live = _ahead_and_live(ch, bp, start, end, walked)
    assert walked.stats.answered == before + 1
    assert live["steps"] and ahead == live


def test_journeys_are_judged_when_asked_not_when_walked(ch, walked) -> None:  # noqa: ANN001
    bp = load_blueprint()
    end = START + timedelta(minutes=10)
    later = end + timedelta(hours=2)  # idle journeys have dropped off by now
    ahead, live = _ahead_and_live(ch, bp, START, end, walked, now=later)
    assert ahead == live


def test_a_window_starting_before_the_walked_period_is_walked_live(ch, walked) -> None:  # noqa: ANN001
    bp = load_blueprint()
    start, end = START - timedelta(minutes=1), START + timedelta(minutes=5)
    before = walked.stats.answered
    ahead, live = _ahead_and_live(ch, bp, start, end, walked)
    assert ahead == live
    assert walked.stats.answered == before


def test_an_edited_blueprint_does_not_read_the_walk_of_the_old_one(ch, walked) -> None:  # noqa: ANN001
    edited = load_blueprint().model_copy(update={"name": "renamed"})
    assert walked.find(None) is None
    document = load_blueprint().model_dump()
    document["correlation"]["timeout"] = 120.0
    retimed = type(edited).model_validate(document)
    end = START + timedelta(minutes=5)
    before = walked.stats.answered
    ahead, live = _ahead_and_live(ch, retimed, START, end, walked)
    assert ahead == live
    assert walked.stats.answered == before
    # a change that does not touch how journeys are walked keeps the walk
    compute_state(ch, edited, START, end, end, walks=walked)
    assert walked.stats.answered == before + 1


def test_a_span_arriving_after_the_walk_has_its_journey_walked_live(ch, dsn) -> None:  # noqa: ANN001
    start, bp, store, _ = _walked(ch, DAY + 1, 4_000, walked_minutes=15)
    # a late span of a walked journey, through the writer the server stores spans with
    writer = SpanWriter(lambda: connect(dsn))
    writer.on_commit(store.note_committed)
    late = ch.query_arrow(
        f"SELECT Timestamp + toIntervalSecond(1) AS Timestamp, TraceId, 'late0000000000ff' AS SpanId, ParentSpanId,"
        f" TraceState, SpanName, SpanKind, ServiceName, ResourceAttributes, ScopeName, ScopeVersion, SpanAttributes,"
        f" Duration, StatusCode, StatusMessage FROM {TRACES_TABLE}"
        " WHERE Timestamp >= {s:DateTime64(9)} AND SpanAttributes['blueprint.step'] = 'step-19' LIMIT 1",
        parameters={"s": start},
    )
    writer.write(late, timeout=30)
    writer.close()
    ahead, live = _ahead_and_live(ch, bp, start, start + timedelta(minutes=15), store)
    assert ahead == live
    assert (store.stats.lent, store.stats.answered) == (0, 1)


def test_a_span_after_the_watermark_without_its_journey_key_makes_the_window_lend_keys_live(ch) -> None:  # noqa: ANN001
    start, bp, store, _ = _walked(ch, DAY + 2, 4_000, walked_minutes=10)
    # a bound span of an existing trace, after the watermark, without journey.id: it joins its trace's journey
    ch.command(
        f"INSERT INTO {TRACES_TABLE} (Timestamp, TraceId, SpanId, SpanName, ServiceName, SpanAttributes, Duration)"
        f" SELECT Timestamp + toIntervalSecond(1), TraceId, 'late00000000ee01', SpanName, ServiceName,"
        f" mapFilter((k, v) -> k != 'journey.id', SpanAttributes), Duration FROM {TRACES_TABLE}"
        " WHERE Timestamp >= {s:DateTime64(9)} AND SpanAttributes['blueprint.step'] = 'step-19'"
        " ORDER BY Timestamp DESC LIMIT 1",
        parameters={"s": start + timedelta(minutes=10)},
    )
    ahead, live = _ahead_and_live(ch, bp, start, start + timedelta(minutes=15), store)
    assert ahead == live
    assert (store.stats.lent, store.stats.answered) == (1, 0)


def test_a_walker_pass_forgets_the_walks_of_blueprints_no_longer_there(ch) -> None:  # noqa: ANN001
    _, _, store, stored = _walked(ch, DAY + 3, 2_000, walked_minutes=15)
    assert store.find(stored.walk) is stored

    def rows() -> int:
        query = "SELECT count() FROM touchpoint_journey_walks WHERE walk = {w:UInt64} AND generation = {g:UInt32}"
        return ch.query(query, parameters={"w": stored.walk, "g": stored.generation}).result_rows[0][0]

    assert rows() > 0
    Walker(store, lambda: ch, lambda: [], every_s=60).run_pass()
    assert store.find(stored.walk) is None
    assert rows() == 0
