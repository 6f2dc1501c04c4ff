"""Wiring `touchpoint serve`: one process owning the database, hosting the receiver, the API and the UI."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import flask
import waitress
from waitress import wasyncore
from waitress.server import BaseWSGIServer, MultiSocketServer

from app.api import build_api
from app.context import AppContext
from app.memory import MemoryTrimmer, fix_mmap_threshold
from app.settings import Settings
from blueprints.rollup_repair import repair_rollup
from collectors.clickhouse_writer import SpanWriter, WriterLimits, span_insert_settings
from collectors.db import ClientPool, EngineLock, connect, parse_dsn
from collectors.landing import Landing, has_landing
from collectors.mapping_workers import MappingWorkers
from collectors.otlp_http import ReceiverLimits, TraceReceiver
from collectors.otlp_mapping import map_body
from collectors.rollup_feed import has_feed
from collectors.schema import migrate

log = logging.getLogger(__name__)

# Hooks other packages' wiring adds: each gets the context at start-up and may return a stop function.
StartHook = Callable[[AppContext], Callable[[], None] | None]


@dataclass
class Runtime:
    """A context plus what must be undone at shutdown, in reverse order."""

    ctx: AppContext
    lock: EngineLock | None
    stops: list[Callable[[], None]] = field(default_factory=list)

    def shutdown(self) -> None:
        """Stop background work, commit pending writes, close clients, release the data directory."""
        for stop in reversed(self.stops):
            try:
                stop()
            except Exception:  # noqa: BLE001 - shutdown goes on whatever one part does
                log.exception("error during shutdown")
        if self.ctx.mappers is not None:
            self.ctx.mappers.close()
        self.ctx.writer.close()
        self.ctx.pool.close()
        if self.lock is not None:
            self.lock.release()


def open_runtime(settings: Settings, start_hooks: list[StartHook] | None = None) -> Runtime:
    """Open the database (taking the embedded engine's lock), migrate the schema, start the writer."""
    dsn = parse_dsn(settings.db)
    lock = None
    mappers = None
    if dsn.embedded:
        assert dsn.path is not None
        lock = EngineLock(dsn.path)
        lock.acquire()
    try:
        with contextlib.closing(connect(dsn)) as client:
            migrate(client, settings.schema_options())
            landing = None
            if dsn.embedded and has_landing(client):  # what a crash left landed is moved, landing on or off
                landing = Landing(lambda: connect(dsn), interval_s=settings.landing_move_s)
                landing.recover(client)
                if settings.land_above_spans_per_s <= 0:
                    landing = None
            fed = has_feed(client)
            if fed:  # spans acknowledged just before the last stop may not have been folded
                repair_rollup(client)
        pool = ClientPool(dsn)
        writer = SpanWriter(
            lambda: connect(dsn),
            limits=WriterLimits(
                max_batch_rows=settings.max_batch_rows,
                max_pending_rows=settings.max_pending_rows,
                max_linger_s=settings.insert_linger_ms / 1000.0,
                land_above_rows_per_s=settings.land_above_spans_per_s,
            ),
            landing=landing,
            feed_rollup=fed,
            insert_settings=span_insert_settings(dsn.embedded),
        )
        mappers = MappingWorkers(settings.mapping_workers) if settings.mapping_workers else None
        receiver = TraceReceiver(
            writer,
            ReceiverLimits(max_body_bytes=settings.max_body_bytes),
            mapper=map_body if mappers is None else mappers.map_body,
        )
        ctx = AppContext(
            settings=settings, dsn=dsn, pool=pool, writer=writer, receiver=receiver, mappers=mappers
        )
    except BaseException:
        if mappers is not None:
            mappers.close()
        if lock is not None:
            lock.release()
        raise
    runtime = Runtime(ctx=ctx, lock=lock)
    for hook in start_hooks if start_hooks is not None else default_start_hooks():
        stop = hook(ctx)
        if stop is not None:
            runtime.stops.append(stop)
    return runtime


def default_start_hooks() -> list[StartHook]:
    """The parts a full server starts: blueprint store, live state, alert engine (as they are installed)."""
    from app import wiring

    return wiring.start_hooks()


def create_app(ctx: AppContext) -> flask.Flask:
    """The Flask app: /v1/traces, /api/v1/…, and the Dash UI at /."""
    app = flask.Flask("touchpoint")
    app.config["MAX_CONTENT_LENGTH"] = None  # the receiver enforces its own limit, after decompression

    @app.post("/v1/traces")
    def otlp_traces() -> flask.Response:
        request = flask.request
        reply = ctx.receiver.handle(
            request.stream,
            request.headers.get("Content-Type"),
            request.headers.get("Content-Encoding"),
            request.content_length,
        )
        return flask.Response(reply.body, status=reply.status, headers=reply.headers)

    app.register_blueprint(build_api(ctx))

    from app.dashboard import create_dash

    create_dash(app, ctx)

    from app.auth import install as install_access_control

    install_access_control(app, ctx)
    return app


def make_server(app: flask.Flask, settings: Settings) -> BaseWSGIServer | MultiSocketServer:
    """A multi-threaded waitress server bound to settings.host:settings.port (port 0 picks a free one)."""
    return waitress.create_server(
        app,
        host=settings.host,
        port=settings.port,
        threads=settings.threads,
        max_request_body_size=settings.max_body_bytes + 1,
        channel_timeout=60,
        connection_limit=1000,
        ident="touchpoint",
        clear_untrusted_proxy_headers=True,
        recv_bytes=256 * 1024,  # OTLP bodies are hundreds of KB: fewer, larger reads
        inbuf_overflow=64 * 1024 * 1024,  # keep bodies in memory rather than spooling them to temp files
    )


def serve(settings: Settings, ready: Callable[[str], None] | None = None) -> None:
    """Run until SIGTERM or SIGINT, then stop cleanly: in-flight requests end, pending writes commit."""
    fix_mmap_threshold()  # this process's allocator only: tests and benchmarks serving in a thread keep theirs
    runtime = open_runtime(settings)
    if settings.trim_memory_s:
        runtime.stops.append(MemoryTrimmer(settings.trim_memory_s).start().stop)
    try:
        server = make_server(create_app(runtime.ctx), settings)

        def stop(signum: int, _frame: FrameType | None) -> None:
            log.info("stopping on signal %s", signal.Signals(signum).name)
            raise SystemExit(0)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        url = f"http://{server.effective_host}:{server.effective_port}"  # type: ignore[union-attr]
        if ready is not None:
            ready(url)
        server.run()
    finally:
        runtime.shutdown()


@dataclass
class BackgroundServer:
    """A server running in a thread of this process (tests, benchmarks)."""

    url: str
    runtime: Runtime
    server: Any
    thread: threading.Thread

    def stop(self) -> None:
        """Stop serving, then end running requests and commit pending writes.

        Running requests finish first: a request thread wakes the server's loop through its trigger pipe when
        it is done, and once that pipe is closed its descriptor number may already belong to another file.
        The sockets are then closed on the server's own thread: closed from here, under the select() it is
        waiting in, that select() fails with EBADF and the thread dies with a traceback."""
        self.server.task_dispatcher.shutdown()
        sockets = getattr(self.server, "map", None) or self.server._map
        wake = next((d for d in list(sockets.values()) if hasattr(d, "pull_trigger")), None)
        try:
            if wake is None:
                raise OSError("the server has no trigger left")
            wake.pull_trigger(lambda: wasyncore.close_all(sockets))
        except OSError as exc:
            log.warning("server loop could not be woken, closing its sockets from here", extra={"error": str(exc)})
            wasyncore.close_all(sockets, ignore_all=True)
        self.thread.join(10)
        self.runtime.shutdown()


def serve_in_thread(settings: Settings, start_hooks: list[StartHook] | None = None) -> BackgroundServer:
    """Start a full server on a background thread; `settings.port` 0 picks a free port."""
    runtime = open_runtime(settings, start_hooks)
    server = make_server(create_app(runtime.ctx), settings)
    thread = threading.Thread(target=server.run, name="touchpoint-server", daemon=True)
    thread.start()
    url = f"http://{server.effective_host}:{server.effective_port}"  # type: ignore[union-attr]
    return BackgroundServer(url=url, runtime=runtime, server=server, thread=thread)
