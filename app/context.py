"""The running server's parts, wired once at start-up and handed to routes and pages explicitly."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from app.settings import Settings
from collectors.clickhouse_writer import SpanWriter
from collectors.db import ClientPool, Dsn
from collectors.mapping_workers import MappingWorkers
from collectors.otlp_http import TraceReceiver


@dataclass
class AppContext:
    """What a request handler may use: settings, a per-thread ClickHouse client pool, the span writer."""

    settings: Settings
    dsn: Dsn
    pool: ClientPool
    writer: SpanWriter
    receiver: TraceReceiver
    mappers: MappingWorkers | None = None  # the receiver's mapping processes, when it has them
    started_at: float = field(default_factory=time.time)
    # Parts other packages add at wiring time (blueprint store, alert engine, ...), by name.
    parts: dict[str, Any] = field(default_factory=dict)

    def client(self) -> Any:
        """The calling thread's ClickHouse client."""
        return self.pool.client()
