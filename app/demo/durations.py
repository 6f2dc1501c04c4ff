"""The demo's flags and fault specs read and write durations with the alert rules' syntax (alerts.durations)."""

from __future__ import annotations

from alerts.durations import format_duration, parse_duration

__all__ = ["format_duration", "parse_duration"]
