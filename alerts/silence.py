"""Silences: mute notifications for alerts whose labels match, between two instants.

A silence holds matchers over alert labels (`rule`, `kind`, `severity`, `blueprint`, `step`, `touchpoint`
and each rule's own labels); an alert is silenced while some active silence matches all of its matchers.
Silenced alerts still fire and are recorded; only their notifications are held back.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from alerts.cycle import Cycle
from alerts.errors import InvalidSilence
from alerts.model import AlertEvent, short_id

_MATCHER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$")


class Matcher(BaseModel):
    """One condition on one label: equal (`=`), not equal (`!=`), matching (`=~`) or not (`!~`) a regex.

    Regular expressions must match the whole value, as in Alertmanager.
    """

    model_config = ConfigDict(frozen=True)

    name: str = Field(min_length=1)
    value: str
    op: Literal["=", "!=", "=~", "!~"] = "="

    @model_validator(mode="after")
    def _regex_compiles(self) -> Matcher:
        if self.op in ("=~", "!~"):
            try:
                re.compile(self.value)
            except re.error as exc:
                raise ValueError(f"matcher {self} has a bad regular expression: {exc}") from None
        return self

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        found = re.fullmatch(self.value, actual) is not None
        return found if self.op == "=~" else not found

    def __str__(self) -> str:
        return f"{self.name}{self.op}{self.value}"


def parse_matcher(text: str) -> Matcher:
    """`step=checkout`, `severity!=info`, `step=~pay.*` as a Matcher; raises InvalidSilence otherwise."""
    found = _MATCHER.match(text)
    if found is None:
        raise InvalidSilence(
            f"matcher {text!r} is not understood: expected NAME=VALUE, NAME!=VALUE, "
            "NAME=~REGEX or NAME!~REGEX, e.g. step=checkout"
        )
    try:
        return Matcher(name=found[1], op=found[2], value=found[3].strip("\"'"))  # type: ignore[arg-type]
    except ValidationError as exc:
        raise InvalidSilence(_first_message(exc)) from None


class Silence(BaseModel):
    """Mutes matching alerts from `starts_at` until `ends_at`."""

    model_config = ConfigDict(frozen=True)

    id: str
    matchers: tuple[Matcher, ...] = Field(min_length=1)
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str = ""
    created_at: datetime

    @field_validator("matchers", mode="before")
    @classmethod
    def _parse_text(cls, value: object) -> object:
        if isinstance(value, list | tuple):
            return tuple(parse_matcher(v) if isinstance(v, str) else v for v in value)
        return value

    @model_validator(mode="after")
    def _ends_after_start(self) -> Silence:
        if self.ends_at <= self.starts_at:
            raise ValueError(
                f"a silence must end after it starts: {self.starts_at.isoformat()} to "
                f"{self.ends_at.isoformat()}"
            )
        return self

    def active(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(m.matches(labels) for m in self.matchers)


def new_silence(
    matchers: list[str] | list[Matcher],
    starts_at: datetime,
    ends_at: datetime,
    created_by: str,
    comment: str,
    now: datetime,
) -> Silence:
    """A silence with a fresh id; raises InvalidSilence saying what is wrong."""
    try:
        parsed = tuple(parse_matcher(m) if isinstance(m, str) else m for m in matchers)
        return Silence(
            id=short_id("s-", *map(str, parsed), starts_at.isoformat(), now.isoformat(), created_by),
            matchers=parsed,
            starts_at=starts_at,
            ends_at=ends_at,
            created_by=created_by,
            comment=comment,
            created_at=now,
        )
    except ValidationError as exc:
        raise InvalidSilence(_first_message(exc)) from None


def _first_message(exc: ValidationError) -> str:
    first = exc.errors()[0]
    if first["type"] == "too_short":
        return "a silence needs at least one matcher, such as step=checkout"
    return str(first.get("ctx", {}).get("error", first["msg"]))


def apply_silences(cycle: Cycle) -> Cycle:
    """Pipeline stage: record on each open alert which active silences mute it."""
    active = [s for s in cycle.silences if s.active(cycle.now)]
    alerts = dict(cycle.alerts)
    events: list[AlertEvent] = []
    for key, alert in cycle.alerts.items():
        if not alert.is_open:
            continue
        muted = tuple(sorted(s.id for s in active if s.matches(alert.labels)))
        if muted == alert.silenced_by:
            continue
        alerts[key] = alert.model_copy(update={"silenced_by": muted})
        action = "silenced" if muted else "unsilenced"
        events.append(
            AlertEvent(
                at=cycle.now,
                alert_id=alert.id,
                episode_id=alert.episode_id,
                action=action,
                detail=", ".join(muted) or "no silence matches any more",
            )
        )
    return replace(cycle, alerts=alerts, events=cycle.events + tuple(events))
