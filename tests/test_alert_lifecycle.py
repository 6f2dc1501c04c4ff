"""The alert lifecycle, episodes, inhibition, silences and notification planning, in simulated time.

No ClickHouse here: signals are made by hand and run through the pipeline minute by minute.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from alerts import lifecycle, pipeline
from alerts.cycle import Cycle
from alerts.errors import InvalidAction
from alerts.impact import BlueprintImpact, ImpactMap
from alerts.model import AlertState, Severity, Signal, signal_of
from alerts.notify import WebhookDestination
from alerts.rules import BottleneckRule, BurnRateRule, DarkRule, FailureRule, LatencyRule
from alerts.silence import new_silence

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)

CHECKOUT_FAILING = FailureRule(
    id="checkout-failing", blueprint="shop", step="checkout", threshold=0.05, **{"for": "2m"}
)
CHECKOUT_SLOW = LatencyRule(id="checkout-slow", blueprint="shop", step="checkout", threshold_ms=500)
CHECKOUT_BURN = BurnRateRule(
    id="checkout-burn", blueprint="shop", step="checkout", target=0.99, severity=Severity.TICKET
)
PAYMENT_FAILING = FailureRule(id="payment-failing", blueprint="shop", step="payment", threshold=0.05)
FLAPPY = FailureRule(id="flappy", blueprint="shop", step="search", threshold=0.05, keep_firing_for="3m")
RULES = {r.id: r for r in (CHECKOUT_FAILING, CHECKOUT_SLOW, CHECKOUT_BURN, PAYMENT_FAILING, FLAPPY)}
IMPACT = ImpactMap(
    {
        "shop": BlueprintImpact(
            lanes={"search": "customer", "checkout": "frontstage", "payment": "support"},
            touchpoint_of={"search": "web", "checkout": "web"},
            serves={"payment": frozenset({"checkout"})},
        )
    }
)
ON_CALL = WebhookDestination(id="on-call", url="http://127.0.0.1:9/hook", repeat_interval="30m")
TICKETS = WebhookDestination(
    id="tickets", url="http://127.0.0.1:9/t", match={"severity": "ticket"}, send_resolved=False
)


def holding(rule: object, summary: str = "broken") -> Signal:
    return signal_of(rule, summary=summary, value=0.5, threshold=0.05, step=rule.step)  # type: ignore[attr-defined]


class Book:
    """The engine's loop in miniature: state carried from cycle to cycle, as alerts/book.py keeps it."""

    def __init__(self, destinations: tuple = (ON_CALL,)) -> None:
        self.alerts: dict = {}
        self.episodes: dict = {}
        self.silences: tuple = ()
        self.destinations = destinations
        self.last: Cycle | None = None

    def run(self, minute: int, *signals: Signal, evaluated: set[str] | None = None) -> Cycle:
        cycle = pipeline.run(
            Cycle(
                now=T0 + minute * MINUTE,
                rules=RULES,
                signals=signals,
                evaluated=frozenset(RULES if evaluated is None else evaluated),
                alerts=self.alerts,
                episodes=self.episodes,
                silences=self.silences,
                impact=IMPACT,
                destinations=self.destinations,
            )
        )
        self.episodes = {k: e for k, e in cycle.episodes.items() if e.is_open}
        self.alerts = {k: a for k, a in cycle.alerts.items() if a.is_open or a.episode_id in self.episodes}
        self.last = cycle
        return cycle

    def only(self, rule_id: str):  # noqa: ANN201 - an Alert
        found = [a for a in self.alerts.values() if a.rule_id == rule_id]
        assert len(found) == 1, found
        return found[0]


def test_a_condition_must_hold_for_the_rules_for_duration_before_firing() -> None:
    book = Book()

    book.run(0, holding(CHECKOUT_FAILING))
    assert book.only("checkout-failing").state is AlertState.PENDING
    book.run(1, holding(CHECKOUT_FAILING))
    assert book.only("checkout-failing").state is AlertState.PENDING
    cycle = book.run(2, holding(CHECKOUT_FAILING))

    alert = book.only("checkout-failing")
    assert alert.state is AlertState.FIRING
    assert (alert.started_at, alert.fired_at) == (T0, T0 + 2 * MINUTE)
    assert [n.reason for n in cycle.notifications] == ["new"]


def test_a_pending_alert_that_clears_never_fires_or_notifies() -> None:
    book = Book()
    book.run(0, holding(CHECKOUT_FAILING))

    cycle = book.run(1)

    assert not book.alerts
    assert [e.action for e in cycle.events] == ["resolved"]
    assert cycle.notifications == ()


def test_a_failed_evaluation_keeps_the_alert_as_it_was() -> None:
    book = Book()
    book.run(0, holding(PAYMENT_FAILING))

    book.run(1, evaluated=set())

    assert book.only("payment-failing").state is AlertState.FIRING


def test_keep_firing_for_rides_out_a_flapping_condition() -> None:
    book = Book()
    book.run(0, holding(FLAPPY))
    book.run(1)
    book.run(2)
    book.run(3, holding(FLAPPY))
    assert book.only("flappy").state is AlertState.FIRING
    book.run(4)
    book.run(6)
    assert book.only("flappy").state is AlertState.FIRING

    book.run(7)

    assert not book.alerts
    assert [n.reason for n in book.last.notifications] == ["resolved"]


def test_alerts_on_one_step_during_one_incident_share_one_episode_and_one_page() -> None:
    book = Book()
    first = book.run(0, holding(CHECKOUT_SLOW))
    second = book.run(1, holding(CHECKOUT_SLOW), holding(CHECKOUT_BURN))

    assert len(book.episodes) == 1
    episode = next(iter(book.episodes.values()))
    assert {book.alerts[a].rule_id for a in episode.alert_ids} == {"checkout-slow", "checkout-burn"}
    assert [n.reason for n in first.notifications] == ["new"]
    assert [(n.reason, len(n.alerts)) for n in second.notifications] == [("update", 2)]
    assert book.run(2, holding(CHECKOUT_SLOW), holding(CHECKOUT_BURN)).notifications == ()


def test_the_same_condition_again_is_the_same_alert_not_a_duplicate() -> None:
    book = Book()
    for minute in range(5):
        book.run(minute, holding(CHECKOUT_SLOW, f"slow at minute {minute}"))

    alert = book.only("checkout-slow")
    assert alert.summary == "slow at minute 4"
    assert alert.started_at == T0


def test_an_unacknowledged_episode_repeats_and_an_acknowledged_one_does_not() -> None:
    book = Book()
    book.run(0, holding(CHECKOUT_SLOW))
    assert book.run(29, holding(CHECKOUT_SLOW)).notifications == ()
    assert [n.reason for n in book.run(30, holding(CHECKOUT_SLOW)).notifications] == ["repeat"]

    alert = book.only("checkout-slow")
    acked, event = lifecycle.acknowledge(alert, "sam", T0 + 31 * MINUTE)
    book.alerts[acked.id] = acked

    assert book.run(61, holding(CHECKOUT_SLOW)).notifications == ()
    assert book.only("checkout-slow").state is AlertState.ACKNOWLEDGED
    assert (event.action, event.actor) == ("acknowledged", "sam")


def test_resolution_is_notified_once_where_the_destination_wants_it() -> None:
    book = Book(destinations=(ON_CALL, TICKETS))
    book.run(0, holding(CHECKOUT_BURN))

    cycle = book.run(1)

    assert [(n.destination, n.status) for n in cycle.notifications] == [("on-call", "resolved")]
    assert cycle.notifications[0].alerts[0].resolved_by == lifecycle.CLEARED
    assert book.run(2).notifications == ()


def test_destinations_only_get_the_alerts_their_match_routes_to_them() -> None:
    book = Book(destinations=(ON_CALL, TICKETS))

    cycle = book.run(0, holding(CHECKOUT_SLOW), holding(CHECKOUT_BURN))

    routed = {n.destination: [a.rule_id for a in n.alerts] for n in cycle.notifications}
    assert routed == {"on-call": ["checkout-burn", "checkout-slow"], "tickets": ["checkout-burn"]}


def test_a_failing_support_step_is_the_likely_cause_of_the_customer_facing_step_it_serves() -> None:
    book = Book()

    cycle = book.run(0, holding(PAYMENT_FAILING), holding(CHECKOUT_SLOW))

    payment, checkout = book.only("payment-failing"), book.only("checkout-slow")
    assert checkout.caused_by == payment.id
    assert book.episodes[checkout.episode_id].cause_episode_id == payment.episode_id
    assert len(cycle.notifications) == 1
    page = cycle.notifications[0]
    assert [a.rule_id for a in page.alerts] == ["payment-failing"]
    assert [a.rule_id for a in page.affected] == ["checkout-slow"]


def test_once_the_cause_is_over_the_customer_facing_alert_pages_on_its_own() -> None:
    book = Book()
    book.run(0, holding(PAYMENT_FAILING), holding(CHECKOUT_SLOW))

    cycle = book.run(1, holding(CHECKOUT_SLOW))

    assert book.only("checkout-slow").caused_by is None
    assert sorted((n.episode.target, n.reason) for n in cycle.notifications) == [
        ("checkout", "new"),
        ("payment", "resolved"),
    ]


def test_a_dark_touchpoint_explains_the_alerts_on_its_own_steps() -> None:
    web_dark = DarkRule(id="web-dark", blueprint="shop", touchpoint="web")
    search_stuck = BottleneckRule(id="search-queue", blueprint="shop", step="search", max_wait="1m")
    rules = {**RULES, web_dark.id: web_dark, search_stuck.id: search_stuck}
    cycle = pipeline.run(
        Cycle(
            now=T0,
            rules=rules,
            evaluated=frozenset(rules),
            impact=IMPACT,
            destinations=(ON_CALL,),
            signals=(
                signal_of(web_dark, summary="dark", touchpoint="web"),
                signal_of(search_stuck, summary="stuck", step="search"),
            ),
        )
    )

    by_rule = {a.rule_id: a for a in cycle.alerts.values()}
    assert by_rule["search-queue"].caused_by == by_rule["web-dark"].id
    assert [[a.rule_id for a in n.alerts] for n in cycle.notifications] == [["web-dark"]]


def test_a_ticket_level_burn_never_silences_a_page() -> None:
    burn_on_payment = BurnRateRule(
        id="payment-burn", blueprint="shop", step="payment", target=0.99, severity=Severity.TICKET
    )
    book = Book()
    book.run(0, signal_of(burn_on_payment, summary="slow burn", step="payment"), holding(CHECKOUT_SLOW))

    assert book.only("checkout-slow").caused_by is None


def test_a_silence_mutes_matching_alerts_until_it_expires() -> None:
    book = Book()
    book.silences = (new_silence(["step=checkout"], T0, T0 + 10 * MINUTE, "sam", "deploy", T0),)

    muted = book.run(0, holding(CHECKOUT_SLOW))
    assert muted.notifications == ()
    assert book.only("checkout-slow").silenced_by == (book.silences[0].id,)

    after = book.run(10, holding(CHECKOUT_SLOW))
    assert [n.reason for n in after.notifications] == ["new"]
    assert book.only("checkout-slow").silenced_by == ()


def test_a_silence_matches_by_regex_and_negation() -> None:
    silence = new_silence(["step=~check.*", "severity!=ticket"], T0, T0 + MINUTE, "sam", "", T0)

    assert silence.matches({"step": "checkout", "severity": "page"})
    assert not silence.matches({"step": "checkout", "severity": "ticket"})
    assert not silence.matches({"step": "recheckout", "severity": "page"})


def test_a_person_resolving_an_alert_that_still_holds_starts_a_new_one() -> None:
    book = Book()
    book.run(0, holding(CHECKOUT_SLOW))
    first = book.only("checkout-slow")
    resolved, _ = lifecycle.resolve(first, "sam", T0 + MINUTE)
    book.alerts[resolved.id] = resolved

    book.run(2, holding(CHECKOUT_SLOW))

    [second] = [a for a in book.alerts.values() if a.is_open]
    assert second.id != first.id
    assert second.started_at == T0 + 2 * MINUTE
    assert second.episode_id == first.episode_id  # still the same incident


def test_people_can_only_do_what_the_state_allows() -> None:
    book = Book()
    book.run(0, holding(CHECKOUT_FAILING))
    pending = book.only("checkout-failing")

    with pytest.raises(InvalidAction, match="is pending; only a firing alert can be acknowledged"):
        lifecycle.acknowledge(pending, "sam", T0)
    resolved, _ = lifecycle.resolve(pending, "sam", T0)
    with pytest.raises(InvalidAction, match="is already resolved"):
        lifecycle.resolve(resolved, "sam", T0)
    with pytest.raises(InvalidAction, match="a note needs some text"):
        lifecycle.annotate(pending, "  ", "sam", T0)


def test_assigning_and_noting_are_kept_on_the_alert() -> None:
    book = Book()
    book.run(0, holding(CHECKOUT_SLOW))
    alert = book.only("checkout-slow")

    alert, assigned = lifecycle.assign(alert, "kim", "sam", T0)
    alert, noted = lifecycle.annotate(alert, "rolling back", "kim", T0 + MINUTE)

    assert alert.assignee == "kim"
    assert [(n.by, n.text) for n in alert.notes] == [("kim", "rolling back")]
    assert (assigned.action, noted.action) == ("assigned", "note")


def test_the_pipeline_is_one_list_of_stages_whose_order_is_data() -> None:
    names = [stage.__module__.rsplit(".", 1)[-1] + "." + stage.__name__ for stage in pipeline.STAGES]

    assert names == [
        "lifecycle.track",
        "episodes.group",
        "inhibit.link_causes",
        "silence.apply_silences",
        "plan.plan",
    ]
    without_notify = pipeline.run(
        Cycle(
            now=T0,
            rules=RULES,
            signals=(holding(CHECKOUT_SLOW),),
            evaluated=frozenset(RULES),
            destinations=(ON_CALL,),
        ),
        pipeline.STAGES[:-1],
    )
    assert without_notify.notifications == ()
    assert replace(without_notify, notifications=()).alerts
