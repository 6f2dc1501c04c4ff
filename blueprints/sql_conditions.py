"""Conditions for conditional aggregates (countIf, sumIf, quantileIf …) of the live-state and alert queries.

ClickHouse evaluates `a AND b` and `a OR b` lazily (short-circuit): `b` is computed only for the rows `a`
leaves open. Inside an aggregate over ARRAY JOIN output or subquery columns, that laziness re-runs the
expressions behind `b` once per aggregate for a masked subset of rows, and a query with twenty windows spent
three quarters of its time doing so (measured: the alerts' journey query went from ~0.9 s to ~0.3 s on 80,000
journey steps; the live state's journey query over 1M spans lost about 8%). The comparisons we combine are
cheap and never fail, so they are combined eagerly with `bitAnd` / `bitOr` on their 0/1 results instead.
"""

from __future__ import annotations


def every(*conditions: str) -> str:
    """SQL true (1) where every condition holds; each condition must be a 0/1 (UInt8) expression."""
    return _fold("bitAnd", conditions)


def any_of(*conditions: str) -> str:
    """SQL true (1) where at least one condition holds; each condition must be a 0/1 (UInt8) expression."""
    return _fold("bitOr", conditions)


def _fold(function: str, conditions: tuple[str, ...]) -> str:
    if not conditions:
        raise ValueError(f"{function} of no conditions: give at least one SQL condition")
    folded = f"({conditions[0]})"
    for condition in conditions[1:]:
        folded = f"{function}({folded}, ({condition}))"
    return folded
