"""online-order: a customer searches, looks at products, pays, and the warehouse and a courier deliver.

Traces: every web request is its own trace (as from a server without browser instrumentation);
the payment gateway call sits inside `POST /checkout`; emails, the warehouse pick and the courier's
delivery attempts are separate traces. `journey.id` ties them together.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import Any

from app.demo.journey import Journey
from app.demo.kernel import Delay
from app.demo.scenario import Actor, Lane, Latency, PoolSpec, Scenario, StepSpec, steps_by_id
from app.demo.spans import SpanKindName

STEPS = steps_by_id(
    StepSpec(
        id="search",
        service="web-shop",
        span="GET /search",
        lane=Lane.CUSTOMER,
        actor=Actor.PERSON,
        latency=Latency(0.18, 0.6),
        touchpoint="web-shop",
        kind=SpanKindName.SERVER,
        error_rate=0.003,
        error_message="search index timed out",
        attributes={"url.path": "/search"},
    ),
    StepSpec(
        id="product",
        service="web-shop",
        span="GET /product/{sku}",
        lane=Lane.CUSTOMER,
        actor=Actor.PERSON,
        latency=Latency(0.12, 0.45),
        touchpoint="web-shop",
        kind=SpanKindName.SERVER,
        error_rate=0.002,
        error_message="500 Internal Server Error",
    ),
    StepSpec(
        id="review-cart",
        service="web-shop",
        span="GET /cart",
        lane=Lane.CUSTOMER,
        actor=Actor.PERSON,
        latency=Latency(0.1, 0.35),
        touchpoint="web-shop",
        kind=SpanKindName.SERVER,
        error_rate=0.002,
        error_message="500 Internal Server Error",
        attributes={"url.path": "/cart"},
    ),
    StepSpec(
        id="checkout",
        service="checkout",
        span="POST /checkout",
        lane=Lane.FRONTSTAGE,
        actor=Actor.SYSTEM,
        latency=Latency(0.06, 0.2),
        touchpoint="web-shop",
        kind=SpanKindName.SERVER,
        error_rate=0.002,
        error_message="payment could not be completed",
        error_status=502,
        attributes={"url.path": "/checkout"},
    ),
    StepSpec(
        id="payment",
        service="payment-gateway",
        span="POST /v1/authorizations",
        lane=Lane.SUPPORT,
        actor=Actor.SYSTEM,
        latency=Latency(0.45, 1.6),
        kind=SpanKindName.SERVER,
        error_rate=0.005,
        error_message="acquirer timed out",
        error_status=504,
        attributes={"payment.channel": "ecommerce", "url.path": "/v1/authorizations"},
        serves=("checkout",),
    ),
    StepSpec(
        id="order-confirmation",
        service="notify",
        span="email.send",
        lane=Lane.EVIDENCE,
        actor=Actor.SYSTEM,
        latency=Latency(0.4, 1.5),
        touchpoint="order-emails",
        kind=SpanKindName.CONSUMER,
        error_rate=0.005,
        error_message="SMTP relay refused the message",
        attributes={"message.template": "order-confirmation"},
    ),
    StepSpec(
        id="warehouse-pick",
        service="warehouse",
        span="wms.pick",
        lane=Lane.BACKSTAGE,
        actor=Actor.PERSON,
        latency=Latency(360, 900),
        conventions=True,
        error_rate=0.006,
        error_message="item not at its location",
        attributes={"wms.task": "pick"},
        pool="pickers",
        serves=("courier-delivery",),
    ),
    StepSpec(
        id="courier-delivery",
        service="courier",
        span="delivery.attempt",
        lane=Lane.FRONTSTAGE,
        actor=Actor.PERSON,
        latency=Latency(150, 480),
        touchpoint="doorstep",
        conventions=True,
        error_rate=0.002,
        error_message="handheld scanner sync failed",
    ),
    StepSpec(
        id="delivered-notification",
        service="notify",
        span="email.send",
        lane=Lane.EVIDENCE,
        actor=Actor.SYSTEM,
        latency=Latency(0.4, 1.5),
        touchpoint="order-emails",
        kind=SpanKindName.CONSUMER,
        error_rate=0.003,
        error_message="SMTP relay refused the message",
        attributes={"message.template": "delivered"},
    ),
)

SEARCH_TERMS = ("kettle", "desk lamp", "running shoes", "backpack", "headphones", "coffee beans", "yoga mat")


def play(journey: Journey) -> Generator[Any, Any, None]:
    """One shopping session, and for those who pay, the fulfilment that follows."""
    j = journey
    if not (yield from browse(j)):
        return
    order = f"ORD-{j.rng.randrange(10**8):08d}"
    for attempt in range(3):
        if attempt:
            if not j.chance(0.55 if attempt == 1 else 0.3):
                return  # gives up after a failed payment
            yield j.wait(Latency(25, 90))
        if (yield from checkout(j, order)):
            break
    else:
        return
    yield j.wait(Latency(10, 40))
    yield from j.perform("order-confirmation", attributes={"order.id": order})
    yield from fulfil(j, order)


def browse(j: Journey) -> Generator[Any, Any, bool]:
    """Search and product pages, looping back to search; returns whether the customer reaches checkout."""
    for _ in range(5):
        term = j.rng.choice(SEARCH_TERMS)
        found = yield from j.perform("search", attributes={"url.query": "q=" + term.replace(" ", "+")})
        yield j.wait(Latency(8, 30))
        if not found.ok and not j.chance(0.5):
            return False  # leaves after an error page
        if not j.chance(0.85):
            return False  # nothing worth a click
        sku = f"SKU-{j.rng.randrange(10**5):05d}"
        shown = yield from j.perform("product", attributes={"url.path": f"/product/{sku}"})
        yield j.wait(Latency(25, 90))
        choice = j.rng.random()
        if not shown.ok or choice < 0.35:
            continue  # back to search
        if choice < 0.70:
            break
        return False  # leaves from a product page
    else:
        return False
    yield from j.perform("review-cart")
    yield j.wait(Latency(30, 120))
    return not j.chance(0.25)  # a quarter abandon checkout


def checkout(j: Journey, order: str) -> Generator[Any, Any, bool]:
    """`POST /checkout`, which calls the payment gateway (retrying once on a gateway error); True if paid."""
    placing = j.open("checkout", attributes={"order.id": order})
    pre, checkout_failed = j.draw("checkout")
    yield Delay(pre)
    outcome = "error"
    for attempt in range(2):
        if checkout_failed:
            break
        payment = j.open(
            "payment", placing, attributes={"order.id": order, "http.request.resend_count": attempt}
        )
        seconds, failed = j.draw("payment")
        declined = j.chance(0.03)
        yield Delay(seconds)
        if failed:
            j.close(payment, error=payment.step.error_message, attributes={"payment.outcome": "error"})
            yield Delay(0.5)
            continue
        outcome = "declined" if declined else "authorized"
        j.close(payment, attributes={"payment.outcome": outcome}, status=402 if declined else 201)
        break
    yield j.wait(Latency(0.05, 0.15))
    if outcome == "authorized":
        j.close(placing, attributes={"payment.outcome": outcome})
        return True
    if outcome == "declined":
        j.close(placing, attributes={"payment.outcome": outcome}, status=402)
    else:
        j.close(placing, error=placing.step.error_message, attributes={"payment.outcome": outcome})
    return False


def fulfil(j: Journey, order: str) -> Generator[Any, Any, None]:
    """The order waits for a picker, is picked (re-picked if the item is missing), and is delivered."""
    yield j.wait(Latency(120, 300))
    picker = yield j.pool("pickers").request(patience=math.inf)
    for _ in range(3):
        picked = yield from j.perform("warehouse-pick", actor_id=picker, attributes={"order.id": order})
        if picked.ok:
            break
        yield j.wait(Latency(180, 600))
    j.release_later("pickers", picker, Latency(20, 60))
    if not picked.ok:
        return  # back-ordered: no parcel leaves today
    yield Delay(min(j.duration(Latency(2400, 4800)), 7200.0))
    courier = f"courier-{j.rng.randrange(1, 40):02d}"
    for attempt in range(2):
        visit = j.open("courier-delivery", actor_id=courier, attributes={"order.id": order})
        seconds, failed = j.draw("courier-delivery")
        nobody_home = j.chance(0.08)
        yield Delay(seconds)
        if failed:
            j.close(visit, error=visit.step.error_message)
        elif nobody_home and attempt == 0:
            j.close(visit, attributes={"delivery.outcome": "no-one-home"})
            yield Delay(min(j.duration(Latency(1800, 3600)), 4800.0))
            continue
        else:
            j.close(visit, attributes={"delivery.outcome": "delivered"})
        break
    yield j.wait(Latency(5, 30))
    yield from j.perform("delivered-notification", attributes={"order.id": order})


ONLINE_ORDER = Scenario(
    id="online-order",
    name="Online order",
    journey_prefix="oo",
    touchpoints={"web-shop": "web", "order-emails": "email", "doorstep": "other"},
    steps=STEPS,
    pools={"pickers": PoolSpec("pickers", "picker", busy_s_per_journey=140.0, utilization=0.8)},
    play=play,
)
