"""Exceptions raised by alerts/: one root, a few kinds a caller can act on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class AlertsError(Exception):
    """Root of every error raised by alerts/."""


@dataclass(frozen=True)
class RuleProblem:
    """One thing wrong in a rules file, located for the person who must fix it."""

    file: str
    line: int  # 1-based
    column: int  # 1-based
    path: str  # the YAML field path, e.g. rules[2].threshold
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return f"{where} {self.path} {self.message}" if self.path else f"{where} {self.message}"


class RulesInvalid(AlertsError):
    """One or more rules files are wrong; `problems` lists every one found, in file order."""

    def __init__(self, problems: Sequence[RuleProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class UnknownAlert(AlertsError):
    """No alert (or episode) has the id asked for."""


class UnknownSilence(AlertsError):
    """No silence has the id asked for."""


class InvalidAction(AlertsError):
    """A person asked for something the alert's state does not allow (acknowledging a resolved alert, …)."""


class InvalidSilence(AlertsError):
    """A silence is malformed: no matchers, a bad regular expression, an end before its start."""


class EvaluationFailed(AlertsError):
    """A rule query failed; the alerts of its rules keep their state until the next evaluation succeeds."""
