"""The alert pipeline as one readable list of stages.

Evaluation (alerts/evaluate.py) turns rules into signals at the edge, where ClickHouse is; everything after it
is pure: each stage takes a `Cycle` and returns a new one. Changing the order is a one-line diff here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from alerts import episodes, inhibit, lifecycle, silence
from alerts.cycle import Cycle
from alerts.notify import plan

Stage = Callable[[Cycle], Cycle]

STAGES: tuple[Stage, ...] = (
    lifecycle.track,  # signals → alerts: pending, firing, resolved
    episodes.group,  # firing alerts → one episode per incident per blueprint step
    inhibit.link_causes,  # customer-facing effects linked to their backstage cause
    silence.apply_silences,  # muted by matching silences
    plan.plan,  # what to send, to whom: new, update, repeat, resolved
)


def run(cycle: Cycle, stages: Sequence[Stage] = STAGES) -> Cycle:
    """`cycle` passed through every stage in order."""
    for stage in stages:
        cycle = stage(cycle)
    return cycle
