"""support-line: a customer calls about a bill, waits for an agent, and is helped, passed on, or called back.

Traces: the call (telephony → IVR → queue → agent desktop, CRM and billing underneath) is one
trace; the confirmation email and a later visit to the account portal are separate traces tied
to the call by `journey.id`.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from app.demo.journey import Journey, SpanHandle
from app.demo.kernel import Delay
from app.demo.scenario import Actor, Lane, Latency, PoolSpec, Scenario, StepSpec, steps_by_id
from app.demo.spans import SpanKindName

PATIENCE = Latency(150, 600)
AFTER_CALL_WORK = Latency(20, 60)

STEPS = steps_by_id(
    StepSpec(
        id="call",
        service="telephony",
        span="call.inbound",
        lane=Lane.CUSTOMER,
        actor=Actor.PERSON,
        latency=Latency(1.5, 4.0),
        touchpoint="phone-line",
        conventions=True,
        kind=SpanKindName.SERVER,
        error_rate=0.001,
        error_message="call dropped before the menu",
    ),
    StepSpec(
        id="ivr-menu",
        service="ivr",
        span="ivr.menu",
        lane=Lane.FRONTSTAGE,
        actor=Actor.SYSTEM,
        latency=Latency(40, 110),
        touchpoint="phone-line",
        error_rate=0.003,
        error_message="speech recognition unavailable",
    ),
    StepSpec(
        id="queue",
        service="contact-center",
        span="acd.enqueue",
        lane=Lane.SUPPORT,
        actor=Actor.SYSTEM,
        latency=Latency(0.05, 0.2),
        error_rate=0.001,
        error_message="routing rule not found",
        serves=("agent-greeting",),
    ),
    StepSpec(
        id="hang-up",
        service="telephony",
        span="call.abandoned",
        lane=Lane.CUSTOMER,
        actor=Actor.PERSON,
        latency=Latency(0.3, 1.0),
        touchpoint="phone-line",
        kind=SpanKindName.SERVER,
    ),
    StepSpec(
        id="agent-greeting",
        service="agent-desktop",
        span="agent.answer",
        lane=Lane.FRONTSTAGE,
        actor=Actor.PERSON,
        latency=Latency(12, 30),
        touchpoint="phone-line",
        conventions=True,
        attributes={"agent.role": "first-line"},
        error_message="account not loaded: CRM lookup failed",
        pool="agents",
    ),
    StepSpec(
        id="crm-lookup",
        service="crm",
        span="GET /accounts/{account_id}",
        lane=Lane.SUPPORT,
        actor=Actor.SYSTEM,
        latency=Latency(0.25, 1.2),
        kind=SpanKindName.SERVER,
        error_rate=0.004,
        error_message="503 Service Unavailable",
        error_status=503,
        serves=("agent-greeting", "resolved"),
    ),
    StepSpec(
        id="billing-adjustment",
        service="billing",
        span="billing.adjust",
        lane=Lane.BACKSTAGE,
        actor=Actor.PROCESS,
        latency=Latency(1.2, 6.0),
        error_rate=0.01,
        error_message="ledger period is locked",
        serves=("resolved", "confirmation-email"),
    ),
    StepSpec(
        id="transfer",
        service="agent-desktop",
        span="agent.transfer",
        lane=Lane.FRONTSTAGE,
        actor=Actor.PERSON,
        latency=Latency(15, 45),
        touchpoint="phone-line",
        conventions=True,
        error_rate=0.002,
        error_message="transfer target busy",
    ),
    StepSpec(
        id="specialist",
        service="agent-desktop",
        span="agent.answer",
        lane=Lane.FRONTSTAGE,
        actor=Actor.PERSON,
        latency=Latency(240, 720),
        touchpoint="phone-line",
        conventions=True,
        attributes={"agent.role": "specialist"},
        error_rate=0.002,
        pool="specialists",
    ),
    StepSpec(
        id="resolved",
        service="agent-desktop",
        span="agent.resolve",
        lane=Lane.FRONTSTAGE,
        actor=Actor.PERSON,
        latency=Latency(45, 120),
        touchpoint="phone-line",
        conventions=True,
        error_rate=0.002,
        error_message="case notes not saved",
    ),
    StepSpec(
        id="callback-promised",
        service="agent-desktop",
        span="agent.callback",
        lane=Lane.FRONTSTAGE,
        actor=Actor.PERSON,
        latency=Latency(30, 90),
        touchpoint="phone-line",
        conventions=True,
        error_rate=0.002,
        error_message="callback not scheduled",
    ),
    StepSpec(
        id="confirmation-email",
        service="notify",
        span="email.send",
        lane=Lane.EVIDENCE,
        actor=Actor.SYSTEM,
        latency=Latency(0.4, 1.5),
        touchpoint="billing-emails",
        kind=SpanKindName.CONSUMER,
        error_rate=0.005,
        error_message="SMTP relay refused the message",
        attributes={"message.template": "adjustment-confirmation"},
    ),
    StepSpec(
        id="check-bill-online",
        service="web-portal",
        span="GET /account/bill",
        lane=Lane.CUSTOMER,
        actor=Actor.PERSON,
        latency=Latency(0.3, 1.1),
        touchpoint="account-portal",
        kind=SpanKindName.SERVER,
        error_rate=0.003,
        error_message="500 Internal Server Error",
        attributes={"url.path": "/account/bill"},
    ),
)

# Outcome of the conversation: (resolved, transferred, callback promised).
OUTCOMES_BILLING = (0.80, 0.08, 0.12)
OUTCOMES_TECHNICAL = (0.60, 0.25, 0.15)
OUTCOMES_WITHOUT_ACCOUNT = (0.25, 0.15, 0.60)


def play(journey: Journey) -> Generator[Any, Any, None]:
    """One inbound call, from dialling to the last follow-up."""
    j = journey
    dialled = yield from j.perform("call", attributes={"call.direction": "inbound"})
    if not dialled.ok:
        return
    call = dialled.span
    topic = "billing" if j.chance(0.65) else "technical"
    yield from j.perform("ivr-menu", call, attributes={"ivr.choice": topic})
    agents = j.pool("agents")
    waiting_since = j.now
    routed = yield from j.perform(
        "queue", call, attributes={"queue.name": topic, "queue.waiting": agents.waiting}
    )
    if not routed.ok:
        yield j.wait(Latency(30, 90))  # "all our agents are busy": the caller lands in the overflow queue
    agent = yield agents.request(patience=j.duration(PATIENCE))
    if agent is None:
        yield from j.perform("hang-up", call, attributes={"call.wait_s": round(j.now - waiting_since, 1)})
        return
    account = f"AC-{j.rng.randrange(10**7):07d}"
    account_ok = yield from greet(j, call, agent, account, round(j.now - waiting_since, 1))

    yield j.wait(Latency(100, 360) if account_ok else Latency(200, 600))
    adjusted: bool | None = None
    if topic == "billing" and account_ok and j.chance(0.45):
        name = "billing.credit" if j.chance(0.4) else "billing.adjust"
        result = yield from j.perform(
            "billing-adjustment", call, name=name, attributes={"account.id": account}
        )
        adjusted = result.ok
    if not account_ok or adjusted is False:
        weights = OUTCOMES_WITHOUT_ACCOUNT
    else:
        weights = OUTCOMES_BILLING if topic == "billing" else OUTCOMES_TECHNICAL
    outcome = j.rng.choices(("resolved", "transfer", "callback-promised"), weights)[0]
    notes_failing = None if account_ok else 0.2
    if outcome == "transfer":
        yield from j.perform("transfer", call, actor_id=agent)
        j.release_later("agents", agent, AFTER_CALL_WORK)
        yield from specialist(j, call, waiting_since=j.now)
    else:
        yield from j.perform(outcome, call, actor_id=agent, error_rate=notes_failing)
        j.release_later("agents", agent, AFTER_CALL_WORK)

    if adjusted:
        yield j.wait(Latency(120, 600))
        yield from j.perform("confirmation-email", attributes={"account.id": account})
    if j.chance(0.4 if adjusted or outcome == "callback-promised" else 0.12):
        yield Delay(min(j.duration(Latency(1200, 4000)), 6000.0))
        yield from j.perform("check-bill-online")


def greet(
    j: Journey, call: SpanHandle, agent: str, account: str, waited_s: float
) -> Generator[Any, Any, bool]:
    """The agent answers and pulls up the account; returns whether the account could be loaded.

    The desktop retries a failing CRM twice; without the account the agent asks the caller for
    everything by hand, which is slow, and the greeting ends in error.
    """
    greeting = j.open("agent-greeting", call, actor_id=agent, attributes={"queue.wait_s": waited_s})
    yield j.wait(Latency(10, 25))
    loaded = False
    for attempt in range(3):
        lookup = yield from j.perform(
            "crm-lookup",
            greeting,
            attributes={"url.path": f"/accounts/{account}", "http.request.resend_count": attempt},
        )
        if lookup.ok:
            loaded = True
            break
        yield Delay(2.0 * (attempt + 1))
    yield j.wait(Latency(8, 20) if loaded else Latency(90, 240))
    j.close(greeting, error=None if loaded else greeting.step.error_message)
    return loaded


def specialist(j: Journey, call: SpanHandle, waiting_since: float) -> Generator[Any, Any, None]:
    """A transferred caller waits again, then a specialist resolves or promises a callback."""
    expert = yield j.pool("specialists").request(patience=j.duration(PATIENCE))
    if expert is None:
        yield from j.perform("hang-up", call, attributes={"call.wait_s": round(j.now - waiting_since, 1)})
        return
    yield from j.perform(
        "specialist", call, actor_id=expert, attributes={"queue.wait_s": round(j.now - waiting_since, 1)}
    )
    outcome = "resolved" if j.chance(0.75) else "callback-promised"
    yield from j.perform(outcome, call, actor_id=expert)
    j.release_later("specialists", expert, AFTER_CALL_WORK)


SUPPORT_LINE = Scenario(
    id="support-line",
    name="Support line",
    journey_prefix="sl",
    touchpoints={"phone-line": "phone", "account-portal": "web", "billing-emails": "email"},
    steps=STEPS,
    pools={
        "agents": PoolSpec("agents", "agent", busy_s_per_journey=225.0, utilization=0.9),
        "specialists": PoolSpec("specialists", "specialist", busy_s_per_journey=52.0, utilization=0.75),
    },
    play=play,
)
