"""Touchpoint under gunicorn: `gunicorn -c python:app.wsgi --workers 4 --bind 0.0.0.0:8050`.

Given as the configuration module (`-c python:app.wsgi`), this module names the WSGI app
(`app.wsgi:application`) and three server hooks:

- the master, before forking, refuses several workers on the embedded engine and migrates a server's schema
  once, so that workers never race to create tables;
- each worker opens its own runtime (ClickHouse clients, the span writer and its threads, the lease
  contender) after the fork — none of them survive a fork — and serves from it;
- each worker closes it on exit, committing pending spans and handing back the alert lease if it held it.

With `app.wsgi:application` alone (no `-c`), a worker opens its runtime on its first request instead.
Settings come from TOUCHPOINT_* variables; gunicorn's own flags decide the address, workers and threads.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from app.settings import Settings

if TYPE_CHECKING:
    import flask

    from app.server import Runtime, StartHook

# gunicorn settings read from this module when it is the config module; command-line flags override them.
wsgi_app = "app.wsgi:application"
worker_class = "gthread"  # requests on threads: the receiver blocks on ClickHouse commits, not on the CPU
threads = 8


class WorkerCountError(RuntimeError):
    """Gunicorn was asked for more processes than the database admits (a RuntimeError: gunicorn prints it)."""


def check_workers(db: str, workers: int) -> None:
    """Refuse several worker processes on the embedded engine, which one process may open."""
    from collectors.db import parse_dsn

    dsn = parse_dsn(db)
    if dsn.embedded and workers > 1:
        raise WorkerCountError(
            f"TOUCHPOINT_DB {dsn.redacted()} is the embedded engine, which only one process may open, but "
            f"gunicorn was asked for {workers} workers. Run with --workers 1, or point TOUCHPOINT_DB at a "
            "ClickHouse server (http://user:password@host:8123/database) to run several."
        )


def settings_from_environment() -> Settings:
    """Settings from TOUCHPOINT_* variables; a RuntimeError naming each bad variable (gunicorn prints it)."""
    from pydantic import ValidationError

    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"TOUCHPOINT_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()
        )
        raise RuntimeError(f"touchpoint settings: {problems}") from None


class WorkerApplication:
    """The WSGI callable gunicorn serves: this worker's Touchpoint app, opened once in the worker process."""

    def __init__(
        self,
        settings: Callable[[], Settings] = settings_from_environment,
        start_hooks: list[StartHook] | None = None,
    ) -> None:
        self._settings = settings
        self._start_hooks = start_hooks
        self._lock = threading.Lock()
        self._app: flask.Flask | None = None
        self._runtime: Runtime | None = None
        self._pid = 0

    def load(self) -> flask.Flask:
        """Open this process's runtime and app if not yet open; later calls return the same app."""
        from app.server import create_app, open_runtime

        with self._lock:
            if self._app is not None and self._pid != os.getpid():
                # Opened in a parent before a fork: its clients and threads are the parent's, not ours.
                self._app, self._runtime = None, None
            if self._app is None:
                runtime = open_runtime(self._settings(), self._start_hooks)
                try:
                    app = create_app(runtime.ctx)
                except BaseException:
                    runtime.shutdown()
                    raise
                self._app, self._runtime, self._pid = app, runtime, os.getpid()
            return self._app

    def close(self) -> None:
        """Stop background work, commit pending spans, release the lease and the database."""
        with self._lock:
            runtime, self._runtime, self._app = self._runtime, None, None
            owned = self._pid == os.getpid()
        if runtime is not None and owned:
            runtime.shutdown()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        return self.load()(environ, start_response)


application = WorkerApplication()


# ---------------------------------------------------------------- gunicorn server hooks


def on_starting(server: Any) -> None:
    """Master, before forking: check the worker count; create or upgrade a server's schema, once."""
    from collectors.db import connect, parse_dsn
    from collectors.schema import migrate

    settings = settings_from_environment()
    check_workers(settings.db, int(server.cfg.workers))
    dsn = parse_dsn(settings.db)
    if dsn.embedded:
        return  # the one worker opens and migrates it; the master must not hold the engine across a fork
    try:
        client = connect(dsn)
        try:
            migrate(client, settings.schema_options())
        finally:
            client.close()
    except Exception as exc:  # unreachable, refused, bad credentials: gunicorn prints RuntimeErrors and stops
        raise RuntimeError(f"cannot prepare the schema at {dsn.redacted()}: {exc}") from exc


def post_worker_init(worker: Any) -> None:
    """Worker, after the fork: open the runtime now, so the lease contender runs before any request."""
    application.load()


def worker_exit(server: Any, worker: Any) -> None:
    """Worker, on its way out: commit pending spans, hand back the lease, close the database."""
    application.close()
