"""The journeys the demo plays, by blueprint id (each binds to blueprints/maps/<id>.yaml)."""

from __future__ import annotations

from collections.abc import Mapping

from app.demo.scenario import Scenario
from app.demo.scenarios.online_order import ONLINE_ORDER
from app.demo.scenarios.store_visit import STORE_VISIT
from app.demo.scenarios.support_line import SUPPORT_LINE

SCENARIOS: Mapping[str, Scenario] = {s.id: s for s in (SUPPORT_LINE, ONLINE_ORDER, STORE_VISIT)}

__all__ = ["SCENARIOS"]
