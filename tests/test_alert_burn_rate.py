"""Burn-rate alerts fire on real trouble, not on a step that wobbles around its own objective."""

from __future__ import annotations

import math

from alerts.burn_rate import Objective, burns_beyond_chance
from alerts.significance import binomial_tail, significantly_above
from alerts.span_stats import StepWindow

ONE_PERCENT_BUDGET = Objective(budget=0.01, slow_s=None)


def test_a_step_failing_at_its_objective_does_not_burn_a_1x_ticket_by_chance() -> None:
    wobble = StepWindow(count=5_000, errors=55)  # 1.1% against 1% allowed: 1.1x, well within chance
    assert not burns_beyond_chance(wobble, ONE_PERCENT_BUDGET, factor=1.0)


def test_a_failure_burst_burns_a_page_beyond_chance() -> None:
    burst = StepWindow(count=120, errors=60)  # 50% failing: 50x the budget
    assert burns_beyond_chance(burst, ONE_PERCENT_BUDGET, factor=14.4)


def test_a_handful_of_requests_cannot_burn_beyond_chance() -> None:
    assert not burns_beyond_chance(StepWindow(count=3, errors=1), ONE_PERCENT_BUDGET, factor=14.4)


def test_the_binomial_tail_is_exact_on_small_counts() -> None:
    exact = 1 - sum(math.comb(10, i) * 0.1**i * 0.9 ** (10 - i) for i in range(3))
    assert math.isclose(binomial_tail(3, 10, 0.1), exact, rel_tol=1e-9)


def test_a_window_of_a_million_spans_is_judged_without_summing_every_term() -> None:
    assert significantly_above(12_000, 1_000_000, 0.01)
    assert not significantly_above(10_050, 1_000_000, 0.01)
