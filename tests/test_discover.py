"""Drafting a blueprint from observed spans: steps, lanes, stages, flows, entry and exit steps, and YAML
that reads back as a blueprint."""

from __future__ import annotations

from datetime import timedelta

import pytest
from ruamel.yaml import YAML
from state_scenario import Span, blueprint, insert, origin

from blueprints.discover import DiscoverOptions, discover


def shop_journey(n: int, keyed: bool = False) -> list[Span]:
    t = 60.0 * n
    key = {"journey.id": f"j{n}"} if keyed else {}
    person = {"actor.type": "person", "touchpoint.id": "web-shop", "touchpoint.channel": "web", **key}
    return [
        Span("web", "GET /search", t, 0.2, f"t{n}", person, kind="Server"),
        Span("web", "GET /product", t + 5, 0.2, f"t{n}", {**person}, kind="Server"),
        Span("payments", "charge", t + 9, 0.5, f"t{n}", key, kind="Client"),
        Span("wms", "pick", t + 20, 3.0, f"u{n}" if keyed else f"t{n}", {"actor.type": "process", **key}),
        Span("notify", "send", t + 30, 0.1, f"u{n}" if keyed else f"t{n}",
             {"blueprint.step": "confirmation", "blueprint.lane": "evidence", **key}),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def draft(ch):  # noqa: ANN001, ANN201
    spans = [s for n in range(10) for s in shop_journey(n)]
    spans += [Span("web", "GET /rare", 5, 0.1, "rare", kind="Server")]
    insert(ch, origin(1), spans)
    start = origin(1)
    return discover(ch, start, start + timedelta(hours=1), DiscoverOptions(blueprint_id="shop"))


def test_steps_come_from_names_seen_often_enough(draft) -> None:  # noqa: ANN001
    steps = draft.document["steps"]
    assert [s["id"] for s in steps] == ["get-search", "get-product", "charge", "pick", "confirmation"]
    assert "get-rare" not in {s["id"] for s in steps}  # one span is not a step
    by_id = {s["id"]: s for s in steps}
    assert by_id["get-search"]["select"] == {"service": "web", "span": "GET /search"}
    assert by_id["confirmation"]["select"] == {"service": "notify", "step": "confirmation"}
    assert (draft.spans, draft.journeys) == (50, 10)


def test_lanes_are_guessed_from_attributes_kind_and_position(draft) -> None:  # noqa: ANN001
    lanes = {s["id"]: s["lane"] for s in draft.document["steps"]}
    assert lanes == {
        "get-search": "customer",  # a person at a touchpoint, first in the journey
        "get-product": "frontstage",
        "charge": "support",  # a client span: a call to another system
        "pick": "backstage",
        "confirmation": "evidence",  # said so by blueprint.lane
    }


def test_flows_start_end_and_stages_follow_the_journeys(draft) -> None:  # noqa: ANN001
    document = draft.document
    assert document["flows"] == [
        {"from": "get-search", "to": "get-product"},
        {"from": "get-product", "to": "charge"},
        {"from": "charge", "to": "pick"},
        {"from": "pick", "to": "confirmation"},
    ]
    assert document["start"] == ["get-search"] and document["end"] == ["confirmation"]
    stages = {s["id"]: s["stage"] for s in document["steps"]}
    assert (stages["get-search"], stages["charge"], stages["confirmation"]) == ("begin", "middle", "end")
    assert document["touchpoints"] == [{"id": "web-shop", "name": "Web shop", "channel": "web"}]
    assert document["correlation"] == {"key": "trace_id", "timeout": "1h"}


def test_the_draft_reads_back_as_a_blueprint(draft) -> None:  # noqa: ANN001
    assert YAML(typ="safe").load(draft.yaml) == draft.document
    assert [s.id for s in blueprint(draft.yaml).steps] == [s["id"] for s in draft.document["steps"]]


def test_journeys_joined_by_key_when_spans_carry_it(ch) -> None:  # noqa: ANN001
    insert(ch, origin(2), [s for n in range(5) for s in shop_journey(n, keyed=True)])
    start = origin(2)
    draft = discover(ch, start, start + timedelta(hours=1))
    assert draft.document["correlation"]["key"] == "journey.id"
    assert draft.journeys == 5  # two traces each, one journey
    assert {"from": "charge", "to": "pick"} in draft.document["flows"]


def test_names_that_look_like_patterns_are_selected_exactly(ch) -> None:  # noqa: ANN001
    insert(ch, origin(3), [Span("web", "GET /a/*", n, 0.1, f"t{n}") for n in range(3)])
    start = origin(3)
    step = discover(ch, start, start + timedelta(hours=1)).document["steps"][0]
    assert step["select"]["span"] == "re:^GET\\ /a/\\*$"
