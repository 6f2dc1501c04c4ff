"""The ground truth of a demo run: every fault it injected, when, where and how hard, as JSON Lines.

One object per line, written when the fault ends (or when the run ends, clipped to it), e.g.::

    {"run": "42-20240501T100000Z", "kind": "failure", "blueprint": "online-order", "step": "payment",
     "touchpoint": null, "steps": ["payment"], "impacts": [], "start": "2024-05-01T10:02:00Z",
     "end": "2024-05-01T10:07:00Z", "magnitude": 0.8, "unit": "error_rate",
     "spec": "failure:online-order/payment@+2m/5m=0.8"}

`steps` are the steps whose own spans the fault changes (for `dark`, every step at the
touchpoint); `impacts` the customer-facing steps a cascade hurts in turn. Times are UTC.
The file is appended to, so runs accumulate; `run` tells them apart.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from app.demo.faults import KIND_INFO, FaultWindow


@dataclass(frozen=True, slots=True)
class TruthRecord:
    """One injected fault as it actually ran."""

    run: str
    kind: str
    blueprint: str
    step: str | None
    touchpoint: str | None
    steps: tuple[str, ...]
    impacts: tuple[str, ...]
    start: datetime
    end: datetime
    magnitude: float
    unit: str
    spec: str

    def to_json(self) -> dict[str, Any]:
        """The record as a JSON-ready dict, times as ISO 8601 UTC with a `Z`."""
        value = asdict(self)
        value["steps"] = list(self.steps)
        value["impacts"] = list(self.impacts)
        value["start"] = iso_utc(self.start)
        value["end"] = iso_utc(self.end)
        return value

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> TruthRecord:
        """The record read back from `to_json` output."""
        return cls(
            **{
                **value,
                "steps": tuple(value["steps"]),
                "impacts": tuple(value["impacts"]),
                "start": datetime.fromisoformat(value["start"]),
                "end": datetime.fromisoformat(value["end"]),
            }
        )


def truth_record(window: FaultWindow, *, run: str, origin: datetime, ended_at: float) -> TruthRecord:
    """The truth about `window` in a run started at `origin`, the fault over by simulated `ended_at`."""
    spec = window.spec
    return TruthRecord(
        run=run,
        kind=spec.kind.value,
        blueprint=spec.blueprint,
        step=None if window.touchpoint is not None else spec.target,
        touchpoint=window.touchpoint,
        steps=window.steps,
        impacts=window.impacts,
        start=origin + timedelta(seconds=window.start),
        end=origin + timedelta(seconds=min(window.end, ended_at)),
        magnitude=spec.effective_magnitude,
        unit=KIND_INFO[spec.kind].unit,
        spec=str(spec),
    )


def iso_utc(moment: datetime) -> str:
    """`moment` as ISO 8601 in UTC, milliseconds, `Z` suffix."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class TruthLog:
    """Appends truth records to a JSON Lines file, creating its directory; each line is flushed at once."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def ensure_writable(self) -> None:
        """Create the file's directory and open the file for appending once; raises OSError if that fails."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8"):
            pass

    def write(self, record: TruthRecord) -> None:
        """Append `record` as one line."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(record.to_json(), sort_keys=False) + "\n")


def read_truth(path: Path) -> list[TruthRecord]:
    """Every record in the truth file at `path` (empty if there is none)."""
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [TruthRecord.from_json(json.loads(line)) for line in lines if line.strip()]
