"""Scoring alerts against the demo's ground truth: which injected fault each alert belongs to, recall,
precision and detection delay. Pure functions over plain values.

An alert *detects* a fault when it is of a kind made for that fault, on the fault's own step (its touchpoint
for a dark fault), and fired between the fault's start and its end plus `grace`. An alert is *explained* by a
fault (a true positive) when it fired in that window on a step the fault changed or hurts (its steps, the
customer-facing steps a cascade hurts, or their touchpoints), whatever its kind.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median
from typing import Any

DETECTING_KINDS: Mapping[str, frozenset[str]] = {
    "failure": frozenset({"failure", "burn_rate"}),
    "latency": frozenset({"latency", "burn_rate"}),
    "queue": frozenset({"bottleneck"}),
    "dark": frozenset({"dark"}),
    "skip": frozenset({"conformance"}),
    "cascade": frozenset({"failure", "burn_rate", "latency"}),
}


@dataclass(frozen=True)
class Fired:
    """One alert as the bench saw it fire."""

    id: str
    rule_id: str
    kind: str
    blueprint: str
    step: str | None
    touchpoint: str | None
    fired_at: datetime
    paged: bool  # went out in a notification of its own (not linked to a cause, not silenced)
    caused_by: str | None = None


@dataclass(frozen=True)
class Detection:
    """How one fault was caught."""

    fault: Any  # app.demo TruthRecord
    first: Fired | None
    delay_s: float | None
    linked_effects: int  # alerts on the steps a cascade hurts that were linked to their cause


@dataclass(frozen=True)
class Score:
    detections: tuple[Detection, ...]
    recall: float
    precision_paged: float | None
    precision_all: float | None
    paged: int
    fired: int
    unexplained: tuple[Fired, ...]
    median_delay_s: float | None


def _touchpoints(fault: Any, touchpoint_of: Mapping[tuple[str, str], str]) -> set[str]:
    steps = set(fault.steps) | set(fault.impacts)
    found = {touchpoint_of[(fault.blueprint, s)] for s in steps if (fault.blueprint, s) in touchpoint_of}
    return found | ({fault.touchpoint} if fault.touchpoint else set())


def in_window(alert: Fired, fault: Any, grace: timedelta) -> bool:
    return fault.start <= alert.fired_at <= fault.end + grace


def detects(alert: Fired, fault: Any, grace: timedelta) -> bool:
    """Whether `alert` is the alert made for `fault`, on its own target."""
    if alert.blueprint != fault.blueprint or alert.kind not in DETECTING_KINDS[fault.kind]:
        return False
    if not in_window(alert, fault, grace):
        return False
    if fault.kind == "dark":
        return alert.touchpoint == fault.touchpoint or alert.step in fault.steps
    return alert.step == fault.step


def explains(
    alert: Fired, fault: Any, grace: timedelta, touchpoint_of: Mapping[tuple[str, str], str]
) -> bool:
    """Whether `fault` accounts for `alert` (the same trouble, seen by another rule or on a step it hurts)."""
    if alert.blueprint != fault.blueprint or not in_window(alert, fault, grace):
        return False
    if alert.step is not None:
        return alert.step in set(fault.steps) | set(fault.impacts)
    return alert.touchpoint in _touchpoints(fault, touchpoint_of)


def score(
    fired: Sequence[Fired],
    faults: Iterable[Any],
    grace: timedelta,
    touchpoint_of: Mapping[tuple[str, str], str],
) -> Score:
    """Recall over faults, precision over paged (and over all fired) alerts, and detection delays."""
    faults = list(faults)
    detections = []
    for fault in faults:
        catching = sorted((a for a in fired if detects(a, fault, grace)), key=lambda a: a.fired_at)
        first = catching[0] if catching else None
        impacts = set(fault.impacts)
        linked = sum(
            1
            for a in fired
            if a.blueprint == fault.blueprint
            and a.step in impacts
            and a.caused_by
            and in_window(a, fault, grace)
        )
        delay = (first.fired_at - fault.start).total_seconds() if first else None
        detections.append(Detection(fault, first, delay, linked))
    explained = [a for a in fired if any(explains(a, f, grace, touchpoint_of) for f in faults)]
    paged = [a for a in fired if a.paged]
    paged_explained = [a for a in paged if a in explained]
    delays = [d.delay_s for d in detections if d.delay_s is not None]
    return Score(
        detections=tuple(detections),
        recall=sum(1 for d in detections if d.first) / len(detections) if detections else 1.0,
        precision_paged=len(paged_explained) / len(paged) if paged else None,
        precision_all=len(explained) / len(fired) if fired else None,
        paged=len(paged),
        fired=len(fired),
        unexplained=tuple(a for a in fired if a not in explained),
        median_delay_s=median(delays) if delays else None,
    )
