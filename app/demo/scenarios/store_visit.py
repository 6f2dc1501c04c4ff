"""store-visit: a customer checks stock in the mobile app, goes to the store, is served at the counter, pays.

Traces: the app's stock lookup (with the inventory service inside) and reservation are app
requests; arriving and leaving are the app's store check-in and check-out (geofence); the counter
service is a trace of its own holding the stockroom fetch and the POS sale with its card
authorization; the e-receipt is sent separately. `journey.id` ties them together.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from app.demo.journey import Journey, SpanHandle
from app.demo.kernel import Delay
from app.demo.scenario import Actor, Lane, Latency, PoolSpec, Scenario, StepSpec, steps_by_id
from app.demo.spans import SpanKindName

STEPS = steps_by_id(
    StepSpec(
        id="stock-lookup",
        service="mobile-bff",
        span="GET /stores/{store_id}/stock",
        lane=Lane.CUSTOMER,
        actor=Actor.PERSON,
        latency=Latency(0.05, 0.15),
        touchpoint="mobile-app",
        kind=SpanKindName.SERVER,
        error_rate=0.002,
        error_message="503 stock unavailable",
        error_status=503,
    ),
    StepSpec(
        id="inventory-check",
        service="inventory",
        span="inventory.availability",
        lane=Lane.SUPPORT,
        actor=Actor.SYSTEM,
        latency=Latency(0.08, 0.4),
        kind=SpanKindName.SERVER,
        error_rate=0.005,
        error_message="stock service timed out",
        serves=("stock-lookup",),
    ),
    StepSpec(
        id="reserve-item",
        service="mobile-bff",
        span="POST /reservations",
        lane=Lane.CUSTOMER,
        actor=Actor.PERSON,
        latency=Latency(0.2, 0.7),
        touchpoint="mobile-app",
        kind=SpanKindName.SERVER,
        error_rate=0.003,
        error_message="500 Internal Server Error",
        attributes={"url.path": "/reservations"},
    ),
    StepSpec(
        id="arrive-in-store",
        service="mobile-bff",
        span="POST /visits",
        lane=Lane.CUSTOMER,
        actor=Actor.PERSON,
        latency=Latency(0.15, 0.5),
        touchpoint="store",
        conventions=True,
        kind=SpanKindName.SERVER,
        error_rate=0.002,
        error_message="500 Internal Server Error",
        attributes={"url.path": "/visits"},
    ),
    StepSpec(
        id="counter-service",
        service="store-ops",
        span="counter.serve",
        lane=Lane.FRONTSTAGE,
        actor=Actor.PERSON,
        latency=Latency(60, 150),
        touchpoint="store",
        conventions=True,
        error_message="item not available",
        pool="clerks",
    ),
    StepSpec(
        id="stockroom-fetch",
        service="store-ops",
        span="stockroom.fetch",
        lane=Lane.BACKSTAGE,
        actor=Actor.PERSON,
        latency=Latency(150, 420),
        conventions=True,
        error_rate=0.02,
        error_message="item not found in the stockroom",
        serves=("counter-service",),
    ),
    StepSpec(
        id="pos-payment",
        service="pos",
        span="pos.sale",
        lane=Lane.FRONTSTAGE,
        actor=Actor.SYSTEM,
        latency=Latency(8, 25),
        touchpoint="store",
        error_message="card payment failed",
    ),
    StepSpec(
        id="card-authorization",
        service="payment-gateway",
        span="POST /v1/authorizations",
        lane=Lane.SUPPORT,
        actor=Actor.SYSTEM,
        latency=Latency(0.6, 2.0),
        kind=SpanKindName.SERVER,
        error_rate=0.003,
        error_message="acquirer timed out",
        error_status=504,
        attributes={"payment.channel": "card-present", "url.path": "/v1/authorizations"},
        serves=("pos-payment",),
    ),
    StepSpec(
        id="e-receipt",
        service="notify",
        span="email.send",
        lane=Lane.EVIDENCE,
        actor=Actor.SYSTEM,
        latency=Latency(0.4, 1.5),
        touchpoint="receipts",
        kind=SpanKindName.CONSUMER,
        error_rate=0.005,
        error_message="SMTP relay refused the message",
        attributes={"message.template": "e-receipt"},
    ),
    StepSpec(
        id="leave-store",
        service="mobile-bff",
        span="POST /visits/{visit_id}/end",
        lane=Lane.CUSTOMER,
        actor=Actor.PERSON,
        latency=Latency(0.15, 0.5),
        touchpoint="store",
        kind=SpanKindName.SERVER,
        error_rate=0.002,
        error_message="500 Internal Server Error",
    ),
)

STORES = ("store-012", "store-027", "store-031")


def play(journey: Journey) -> Generator[Any, Any, None]:
    """One visit: plan in the app, travel, queue at the counter, pay, leave."""
    j = journey
    store = j.rng.choice(STORES)
    in_stock = yield from look_up_stock(j, store)
    if in_stock is None:
        yield j.wait(Latency(10, 40))
        in_stock = yield from look_up_stock(j, store)
        if in_stock is None and not j.chance(0.5):
            return  # gives up on the visit
    if in_stock is False:
        return
    reserved = j.chance(0.3) and (yield from j.perform("reserve-item", attributes={"store.id": store})).ok
    yield Delay(min(j.duration(Latency(1500, 4500)), 9000.0))
    visit = f"V-{j.rng.randrange(10**7):07d}"
    yield from j.perform("arrive-in-store", attributes={"store.id": store, "visit.id": visit})
    yield j.wait(Latency(60, 240))
    waiting_since = j.now
    clerk = yield j.pool("clerks").request(patience=j.duration(Latency(360, 900)))
    if clerk is not None:
        paid = yield from counter(j, store, clerk, reserved, round(j.now - waiting_since, 1))
        if paid:
            yield j.wait(Latency(5, 20))
            if j.chance(0.7):
                yield from j.perform("e-receipt", attributes={"store.id": store})
    yield j.wait(Latency(40, 150))
    yield from j.perform("leave-store", attributes={"store.id": store, "url.path": f"/visits/{visit}/end"})


def look_up_stock(j: Journey, store: str) -> Generator[Any, Any, bool | None]:
    """The app asks the inventory service; True/False is in stock or not, None an error page."""
    lookup = j.open("stock-lookup", attributes={"store.id": store, "url.path": f"/stores/{store}/stock"})
    before, failed = j.draw("stock-lookup")
    yield Delay(before)
    checked = yield from j.perform("inventory-check", lookup, attributes={"store.id": store})
    yield Delay(before / 2)
    if failed or not checked.ok:
        j.close(lookup, error=lookup.step.error_message)
        return None
    available = not j.chance(0.12)
    j.close(lookup, attributes={"stock.available": available})
    return available


def counter(j: Journey, store: str, clerk: str, reserved: bool, waited_s: float) -> Generator[Any, Any, bool]:
    """A clerk serves the customer, fetches the item from the stockroom if needed, and rings up the sale."""
    serving = j.open(
        "counter-service", actor_id=clerk, attributes={"store.id": store, "queue.wait_s": waited_s}
    )
    talk, _ = j.draw("counter-service")
    yield Delay(talk)
    if not reserved and j.chance(0.3):
        fetched = yield from j.perform(
            "stockroom-fetch", serving, actor_id=clerk, attributes={"store.id": store}
        )
        if not fetched.ok:
            j.close(serving, error=serving.step.error_message)
            j.release_later("clerks", clerk, Latency(10, 30))
            return False
    paid = yield from sell(j, serving, store)
    yield j.wait(Latency(20, 60))
    j.close(serving)
    j.release_later("clerks", clerk, Latency(10, 30))
    return paid


def sell(j: Journey, serving: SpanHandle, store: str) -> Generator[Any, Any, bool]:
    """The POS sale: card (authorized by the gateway, retried once) or cash; False if left unpaid."""
    sale = j.open("pos-payment", serving, attributes={"store.id": store})
    scan, _ = j.draw("pos-payment")
    yield Delay(scan)
    method = "card" if j.chance(0.8) else "cash"
    if method == "card":
        for attempt in range(2):
            authorized = yield from j.perform(
                "card-authorization",
                sale,
                attributes={"store.id": store, "http.request.resend_count": attempt},
            )
            if authorized.ok:
                break
            yield Delay(3.0)
        else:
            if not j.chance(0.6):
                j.close(sale, error=sale.step.error_message, attributes={"payment.method": "card"})
                return False
            method = "cash"
    yield j.wait(Latency(3, 10))
    j.close(sale, attributes={"payment.method": method})
    return True


STORE_VISIT = Scenario(
    id="store-visit",
    name="Store visit",
    journey_prefix="sv",
    touchpoints={"mobile-app": "mobile", "store": "store", "receipts": "email"},
    steps=STEPS,
    pools={"clerks": PoolSpec("clerks", "clerk", busy_s_per_journey=130.0, utilization=0.88)},
    play=play,
)
