"""The alerts page's list: grouped alerts as one component of escaped HTML — whatever the number of alerts,
hostile text shown as text, each row linking to its alert with the filters kept."""

from __future__ import annotations

from datetime import UTC, datetime
from html.parser import HTMLParser
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

from dash import dcc

from app.components.alert_views import alert_groups_html, build_alert_groups, group_alerts

START = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
HOSTILE = '<img src=x onerror="window.__xss=1"> & "quoted"'


def alert(**fields: Any) -> Any:
    defaults = {
        "id": "a-1",
        "state": "firing",
        "severity": "ticket",
        "episode_id": None,
        "blueprint": "order",
        "step": "payment",
        "target": "payment",
        "rule_id": "r",
        "summary": "payment failing",
        "assignee": None,
        "started_at": START,
        "fired_at": START,
        "silenced_by": (),
    }
    return SimpleNamespace(**{**defaults, **fields})


class Parsed(HTMLParser):
    """Elements (tag, attributes) in document order, and the text of every element by tag."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.texts: dict[str, list[str]] = {}
        self._open: list[str] = []
        self.feed(markup)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        self._open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        self._open.pop()

    def handle_data(self, data: str) -> None:
        self.texts.setdefault(self._open[-1] if self._open else "", []).append(data)

    def tags(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.elements if name == tag]


def listed(alerts: list[Any], by: str = "step", selected: str | None = None, **kw: Any) -> Parsed:
    return Parsed(alert_groups_html(group_alerts(alerts, by), by, selected, kw.get("owners", {}), kw.get("query")))


def test_the_list_is_one_component_however_many_alerts_there_are() -> None:
    many = [alert(id=f"a-{n}", target=f"step-{n}", step=f"step-{n}") for n in range(300)]

    shown = build_alert_groups(group_alerts(many, "step"), "step", None, {})

    assert isinstance(shown, dcc.Markdown)
    assert len(listed(many).tags("a")) == 300


def test_hostile_text_in_a_summary_owner_or_assignee_is_shown_as_text() -> None:
    parsed = listed([alert(summary=HOSTILE, assignee=HOSTILE)], owners={("order", "payment"): HOSTILE})

    assert not parsed.tags("img")
    assert parsed.texts["a"] == [HOSTILE]
    assert parsed.texts["td"].count(HOSTILE) == 2  # owner and assignee


def test_each_row_links_to_its_alert_and_keeps_the_filters() -> None:
    parsed = listed([alert(id="a-7")], query={"state": "firing", "bp": "order"})

    (link,) = parsed.tags("a")
    assert parse_qs(urlsplit(link["href"] or "").query) == {"state": ["firing"], "bp": ["order"], "alert": ["a-7"]}


def test_the_selected_alert_is_marked_and_states_are_coloured_pills() -> None:
    parsed = listed([alert(id="a-1"), alert(id="a-2", state="acknowledged", target="search")], selected="a-2")

    assert [attrs.get("class") for attrs in parsed.tags("tr")].count("selected") == 1
    pills = [attrs["class"] for attrs in parsed.tags("span") if "tp-pill" in (attrs["class"] or "")]
    assert "tp-pill acknowledged" in pills and "tp-pill firing" in pills and "tp-pill ticket" in pills


def test_a_blank_line_in_a_summary_does_not_end_the_html_block() -> None:
    markup = alert_groups_html(group_alerts([alert(summary="first\n\nsecond")], "step"), "step", None, {})

    assert "\n" not in markup
    assert Parsed(markup).texts["a"] == ["first second"]


def test_groups_are_headed_by_where_their_alerts_fire() -> None:
    parsed = listed([alert(episode_id="e-1")], by="episode")

    assert parsed.texts["h3"] == ["order · payment"]
    assert parsed.tags("div")[0]["id"] == "alerts-groups"
