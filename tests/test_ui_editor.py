"""The editor's pure edits on YAML text, its located validation messages, and saving through the blueprint
directory with ETags, kept versions and conflicts."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.pages._editor_changes import number
from app.pages._editor_store import DirectoryVersions, SaveConflict, etag_of
from app.pages._edits import EditRefused, edit, load
from app.pages._validation import validate_text

NOW = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
TEXT = textwrap.dedent(
    """\
    id: order
    name: Online order
    stages:
      - id: browse
        name: Browse
      - id: buy
        name: Buy
    touchpoints:
      - id: web
        name: Web shop
        channel: web
        importance: 3
    steps:
      # the customer looks around first
      - id: search
        name: Search products
        lane: customer
        stage: browse
        actor: person
      - id: checkout
        name: Place the order
        lane: frontstage
        stage: buy
        actor: system
    flows:
      - from: search
        to: checkout
    start: [search]
    """
)


def steps(text: str) -> list[dict]:
    return list(load(text)["steps"])


def test_adding_a_step_makes_an_id_from_its_name() -> None:
    text = edit(TEXT, "add_step", name="Pay by card", lane="support", stage="buy")

    added = steps(text)[-1]
    assert (added["id"], added["lane"], added["stage"]) == ("pay-by-card", "support", "buy")


def test_a_new_id_is_carried_into_flows_and_start() -> None:
    text = edit(TEXT, "rename_step", step_id="search", name="Find a product", new_id="find")

    document = load(text)
    assert document["steps"][0]["name"] == "Find a product"
    assert document["flows"][0]["from"] == "find"
    assert list(document["start"]) == ["find"]


def test_moving_a_step_changes_its_lane_and_stage() -> None:
    moved = steps(edit(TEXT, "move_step", step_id="checkout", lane="backstage", stage="browse"))[1]

    assert (moved["lane"], moved["stage"]) == ("backstage", "browse")


def test_deleting_a_step_removes_its_flows_and_mentions() -> None:
    document = load(edit(TEXT, "delete_step", step_id="search"))

    assert [s["id"] for s in document["steps"]] == ["checkout"]
    assert list(document["flows"]) == [] and list(document["start"]) == []


def test_flows_are_drawn_once_and_removed() -> None:
    drawn = edit(TEXT, "add_flow", source="checkout", target="search")
    twice = edit(drawn, "add_flow", source="checkout", target="search")
    removed = edit(twice, "remove_flow", source="search", target="checkout")

    assert len(load(twice)["flows"]) == 2
    assert [(f["from"], f["to"]) for f in load(removed)["flows"]] == [("checkout", "search")]


def test_a_flow_to_an_unknown_step_is_refused() -> None:
    with pytest.raises(EditRefused, match="no step 'ghost'"):
        edit(TEXT, "add_flow", source="search", target="ghost")


def test_selector_attribute_lines_become_a_mapping() -> None:
    text = edit(
        TEXT,
        "set_selector",
        step_id="checkout",
        service="shop",
        span="POST /orders",
        attributes="http.route=/orders\nregion = eu",
    )

    select = steps(text)[1]["select"]
    assert dict(select) == {
        "service": "shop",
        "span": "POST /orders",
        "attributes": {"http.route": "/orders", "region": "eu"},
    }


def test_objectives_are_set_and_cleared() -> None:
    text = edit(
        TEXT, "set_objectives", step_id="checkout", availability=0.99, percentile=95, threshold_ms=800
    )
    cleared = edit(text, "set_objectives", step_id="checkout")

    assert steps(text)[1]["objectives"] == {
        "availability": 0.99,
        "latency": {"percentile": 95, "threshold_ms": 800},
    }
    assert "objectives" not in steps(cleared)[1]


def test_comments_and_order_of_untouched_parts_survive_an_edit() -> None:
    text = edit(TEXT, "set_importance", touchpoint_id="web", importance=5)

    assert "# the customer looks around first" in text
    assert text.index("touchpoints:") < text.index("steps:") < text.index("flows:")
    assert "importance: 5" in text


def test_a_valid_draft_has_no_problems() -> None:
    assert validate_text(TEXT, "order") == []


def test_problems_name_line_column_path_and_what_is_expected() -> None:
    bad = TEXT.replace("lane: frontstage", "lane: backstag").replace("to: checkout", "to: chekout")

    problems = [str(p) for p in validate_text(bad, "order")]

    assert (
        "22:5 steps[1].lane 'backstag' is not one of evidence, customer, frontstage, backstage, support"
        in problems
    )
    assert any(p.startswith("27:5 flows[0].to 'chekout' is not a") for p in problems)


def test_text_that_is_not_yaml_is_reported_where_it_breaks() -> None:
    problems = validate_text("id: order\nsteps: [unclosed\n", "order")

    assert len(problems) == 1 and problems[0].line == 3 and "is not valid YAML" in problems[0].message


def test_a_regex_the_engine_cannot_run_is_refused_before_saving() -> None:
    bad = edit(TEXT, "set_selector", step_id="search", span="re:^(?!admin)")

    assert any("look-around" in p.message or "RE2" in p.message for p in validate_text(bad, "order"))


def test_saving_with_the_etag_it_was_loaded_with_keeps_the_previous_version(tmp_path: Path) -> None:
    (tmp_path / "order.yaml").write_text(TEXT)
    store = DirectoryVersions(tmp_path)
    loaded = store.read_text("order")

    saved = store.save_text("order", TEXT.replace("Online order", "Web order"), loaded.etag, "olga", NOW)

    assert store.read_text("order").etag == saved.etag != loaded.etag
    [version] = store.history("order")
    assert (version.author, version.saved_at) == ("olga", NOW)
    assert store.version_text("order", version.id) == TEXT


def test_saving_over_someone_elses_save_is_refused_with_the_current_text(tmp_path: Path) -> None:
    (tmp_path / "order.yaml").write_text(TEXT)
    store = DirectoryVersions(tmp_path)
    stale = store.read_text("order").etag
    store.save_text("order", TEXT + "# theirs\n", stale, "ann", NOW)

    with pytest.raises(SaveConflict, match="saved by someone else") as refused:
        store.save_text("order", TEXT + "# mine\n", stale, "bob", NOW)

    assert refused.value.current.text.endswith("# theirs\n")
    assert (tmp_path / "order.yaml").read_text().endswith("# theirs\n")


def test_a_new_blueprint_must_not_exist_yet(tmp_path: Path) -> None:
    store = DirectoryVersions(tmp_path)
    store.save_text("fresh", TEXT, None, "ann", NOW)

    with pytest.raises(SaveConflict, match="already exists"):
        store.save_text("fresh", TEXT, None, "bob", NOW)
    assert store.read_text("fresh").etag == etag_of(TEXT)


def test_ids_that_could_leave_the_directory_are_refused(tmp_path: Path) -> None:
    with pytest.raises(LookupError, match="must match"):
        DirectoryVersions(tmp_path).read_text("../etc/passwd")


def test_an_emptied_number_field_leaves_the_objective_out() -> None:
    assert number("") is None and number(None) is None
    assert number(95) == 95 and number(0.995) == 0.995 and number("300") == 300.0
