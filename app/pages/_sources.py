"""Where the pages find the running server's parts: blueprints, live states, the alert engine, the first-run
check. Thin edges over `app.pages.context()`; everything they return is a typed value or a model."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from app.context import AppContext
from app.pages._live_state import LiveStates
from blueprints.state_model import BlueprintState

try:
    from blueprints.errors import BlueprintError
except ImportError:  # before the blueprint store is installed, only the directory's files are read
    BlueprintError = LookupError  # type: ignore[misc, assignment]

log = logging.getLogger(__name__)
T = TypeVar("T")

STATES_PART = "dashboard.states"
SEEN_SPANS_PART = "dashboard.seen_spans"
_DIRECTORY_PART = "dashboard.blueprint_dir"
_parts_lock = threading.Lock()


def blueprints(ctx: AppContext) -> dict[str, Any]:
    """Every valid blueprint the server knows, by id in id order: the blueprint store's when it is installed,
    else the blueprint directory's files."""
    store = ctx.parts.get("blueprints")
    if store is not None and callable(getattr(store, "blueprints", None)):
        return {str(b.id): b for b in sorted(store.blueprints(), key=lambda b: str(b.id))}
    return dict(sorted(_directory(ctx)().items()))


def find_blueprint(ctx: AppContext, blueprint_id: str | None) -> Any | None:
    """The valid blueprint with this id, or None (unknown, or its file does not validate)."""
    if not blueprint_id:
        return None
    store = ctx.parts.get("blueprints")
    if store is not None and callable(getattr(store, "get", None)):
        try:
            found = store.get(blueprint_id)
        except (LookupError, BlueprintError):
            return None
        return getattr(found, "blueprint", found)  # the store keeps the model beside its text and ETag
    return blueprints(ctx).get(blueprint_id)


def live_states(ctx: AppContext) -> LiveStates:
    """The server's shared cache of blueprint states (made on first use)."""
    with _parts_lock:
        states = ctx.parts.get(STATES_PART)
        if states is None:
            states = LiveStates(partial(_compute, ctx), ctx.settings.refresh_ms / 1000)
            ctx.parts[STATES_PART] = states
        return states  # type: ignore[no-any-return]


def state_of(
    ctx: AppContext, blueprint: Any, length_s: float, end: datetime | None, now: datetime
) -> BlueprintState:
    """The state of `blueprint` over the `length_s` seconds ending at `end` (None: now, kept fresh)."""
    states = live_states(ctx)
    if end is None:
        return states.live(blueprint, length_s, now)
    return states.past(blueprint, length_s, end, now)


def alert_engine(ctx: AppContext) -> Any | None:
    """The alert engine, when the server runs one."""
    return ctx.parts.get("alerts")


def open_alerts(ctx: AppContext) -> list[Any]:
    """Alerts open right now (pending, firing, acknowledged), from the engine's book; [] without an engine."""
    engine = alert_engine(ctx)
    return list(engine.book.open_alerts()) if engine is not None else []


def has_spans(ctx: AppContext) -> bool:
    """Whether any span has arrived yet. Once true it stays true for this server (asked again until then)."""
    if ctx.parts.get(SEEN_SPANS_PART):
        return True
    try:
        rows = ctx.client().query("SELECT 1 FROM otel_traces LIMIT 1").result_rows
    except Exception as exc:  # noqa: BLE001 - a database that cannot answer is reported where data is drawn
        log.warning("cannot tell whether spans have arrived", extra={"error": str(exc)})
        return True
    if rows:
        ctx.parts[SEEN_SPANS_PART] = True
    return bool(rows)


def remembered(
    ctx: AppContext, part: str, key: Any, compute: Callable[[], T], ttl_s: float, keep: int = 32
) -> T:
    """`compute()`'s answer for `key`, kept up to `ttl_s` seconds in a small per-server cache named `part`
    (a refresh or a click that asks the same question again is answered without ClickHouse). Asked again
    while it is being computed, the question waits for that computation rather than running a second one."""
    with _parts_lock:
        cache = ctx.parts.setdefault(part, OrderedDict())
        found = cache.get(key)
        if found is not None and time.monotonic() - found[0] < ttl_s:
            cache.move_to_end(key)
            return found[1]  # type: ignore[no-any-return]
        running: dict[Any, Future[T]] = ctx.parts.setdefault(f"{part}.running", {})
        pending = running.get(key)
        if pending is not None:
            waiting = True
        else:
            waiting, pending = False, Future()
            running[key] = pending
    if waiting:
        return pending.result()
    try:
        value = compute()
    except BaseException as exc:
        with _parts_lock:
            del running[key]
        pending.set_exception(exc)
        raise
    with _parts_lock:
        cache[key] = (time.monotonic(), value)
        while len(cache) > keep:
            cache.popitem(last=False)
        del running[key]
    pending.set_result(value)
    return value


def _compute(
    ctx: AppContext, blueprint: Any, start: datetime, end: datetime, now: datetime, background: bool
) -> BlueprintState:
    from app.api.state import state_options
    from blueprints.state import compute_state

    client = ctx.client()  # this worker thread's own client: its settings touch no other query
    try:
        # A refresh nobody waits for runs on one core, so the pages people are waiting for keep the other.
        client.set_client_setting("max_threads", 1 if background else 0)
    except Exception:  # noqa: BLE001 - a client that cannot be told simply runs at its usual speed
        log.debug("cannot lower a background state computation's threads", exc_info=True)
    # A viewer waiting for a long window gets its rollup read on a second thread beside the journey walk.
    side = None if background else ctx.client
    options = state_options(ctx.settings)
    return compute_state(client, blueprint, start, end, now, options, side_client=side, walks=ctx.parts.get("walks"))


def _directory(ctx: AppContext) -> Any:
    with _parts_lock:
        provider = ctx.parts.get(_DIRECTORY_PART)
        if provider is None:
            from alerts.rule_source import directory_blueprints

            provider = directory_blueprints(ctx.settings.blueprints)
            ctx.parts[_DIRECTORY_PART] = provider
        return provider
