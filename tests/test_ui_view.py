"""The blueprint page's view: what a URL asks for, playback frames on a repeatable grid, and how each
control changes the view."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.pages._view import (
    DEFAULT_RANGE,
    LIVE,
    clicked_step,
    frame_end,
    history_marks,
    next_view,
    position_of,
    view_from_query,
    window_of,
)

NOW = datetime(2025, 3, 1, 12, 34, 56, tzinfo=UTC)


def test_a_link_reproduces_blueprint_range_end_and_selection() -> None:
    view = view_from_query(
        {"bp": "order", "range": "6h", "end": "2025-03-01T11:00:00Z", "step": "payment"}, ["order", "support"]
    )

    assert view == {
        "bp": "order",
        "range": "6h",
        "end": "2025-03-01T11:00:00+00:00",
        "step": "payment",
        "paused": False,
    }


def test_unknown_values_in_a_link_fall_back_to_defaults() -> None:
    view = view_from_query({"bp": "nope", "range": "3y", "end": "yesterday"}, ["order"])

    assert (view["bp"], view["range"], view["end"]) == ("order", DEFAULT_RANGE, None)


def test_a_plus_sign_eaten_by_the_query_string_still_reads_as_an_offset() -> None:
    view = view_from_query({"end": "2025-03-01T11:00:00 00:00"}, ["order"])

    assert view["end"] == "2025-03-01T11:00:00+00:00"


def test_live_windows_end_now_and_replays_end_where_they_were_left() -> None:
    live = window_of({"range": "1h", "end": None}, NOW)
    replay = window_of({"range": "1h", "end": "2025-03-01T10:00:00+00:00"}, NOW)

    assert live == (NOW - timedelta(hours=1), NOW, True)
    assert replay == (datetime(2025, 3, 1, 9, tzinfo=UTC), datetime(2025, 3, 1, 10, tzinfo=UTC), False)


def test_playback_frames_end_on_a_grid_so_they_repeat_between_requests() -> None:
    newest_past = frame_end("1h", LIVE - 1, NOW)
    same_later = frame_end("1h", LIVE - 1, NOW + timedelta(minutes=20))

    assert newest_past == datetime(2025, 3, 1, 12, tzinfo=UTC) == same_later
    assert frame_end("1h", 0, NOW) == datetime(2025, 2, 28, 13, tzinfo=UTC)
    assert frame_end("1h", LIVE, NOW) is None


def test_a_frame_position_and_its_end_convert_both_ways() -> None:
    for position in (0, 5, LIVE - 1):
        end = frame_end("15m", position, NOW)
        assert end is not None
        assert position_of("15m", end.isoformat(), NOW) == position
    assert position_of("15m", None, NOW) == LIVE


def test_the_history_slider_is_labelled_by_how_far_back_and_live() -> None:
    marks = history_marks("1h", NOW)

    assert marks[LIVE] == "live"
    assert marks[0].startswith("−23")


def test_picking_another_blueprint_clears_the_selection() -> None:
    view = {"bp": "order", "range": "1h", "end": None, "step": "payment", "paused": False}

    assert next_view(view, "bp", "support", NOW) == {**view, "bp": "support", "step": None}


def test_dragging_the_history_slider_sets_the_window_end_and_live_clears_it() -> None:
    view = {"bp": "order", "range": "1h", "end": None, "step": None, "paused": False}

    back = next_view(view, "position", LIVE - 2, NOW)
    again_live = next_view(back, "position", LIVE, NOW)

    assert back["end"] == "2025-03-01T11:00:00+00:00"
    assert again_live["end"] is None


def test_clicking_the_selected_step_again_clears_the_selection() -> None:
    view = {"bp": "order", "range": "1h", "end": None, "step": None, "paused": False}

    selected = next_view(view, "select", "payment", NOW)

    assert selected["step"] == "payment"
    assert next_view(selected, "select", "payment", NOW)["step"] is None


def test_pause_toggles() -> None:
    view = {"bp": "order", "range": "1h", "end": None, "step": None, "paused": False}

    assert next_view(view, "pause", None, NOW)["paused"] is True
    assert next_view(next_view(view, "pause", None, NOW), "pause", None, NOW)["paused"] is False


def test_a_click_names_the_step_its_tile_carries() -> None:
    assert clicked_step({"points": [{"customdata": "payment", "x": 1.5}]}) == "payment"
    assert clicked_step({"points": []}) is None
    assert clicked_step(None) is None
