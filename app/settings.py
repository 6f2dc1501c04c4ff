"""One settings object, built once from CLI flags and TOUCHPOINT_* environment variables, passed down."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from collectors.db import DEFAULT_DSN, parse_dsn
from collectors.schema import CLUSTER_NAME_PATTERN, SchemaOptions


class Settings(BaseSettings):
    """Everything `touchpoint serve` and the other commands can be told.

    Environment variables are the field names upper-cased with the TOUCHPOINT_ prefix (TOUCHPOINT_DB, …);
    CLI flags override them.
    """

    model_config = SettingsConfigDict(env_prefix="TOUCHPOINT_", extra="ignore")

    db: str = Field(DEFAULT_DSN, description="chdb://path (embedded engine) or http(s)://user:pass@host:8123/db")
    host: str = "127.0.0.1"
    port: int = Field(8050, ge=0, le=65535)
    url: str = Field("http://127.0.0.1:8050", description="where client commands find the running server")
    blueprints: Path = Path("blueprints/maps")
    rules: Path = Path("alerts/rules")
    threads: int = Field(16, ge=1, le=256, description="WSGI worker threads")
    ttl_days: int = Field(0, ge=0, description="drop spans older than this many days (0 keeps them)")
    cluster_name: str = Field(
        "",
        pattern=rf"^(?:{CLUSTER_NAME_PATTERN})?$",
        description="a ClickHouse cluster (remote_servers name or {cluster}): replicated, sharded tables",
    )
    max_body_bytes: int = Field(20 * 1024 * 1024, ge=1024, description="OTLP request limit after decompression")
    max_pending_rows: int = Field(1_000_000, ge=1000, description="spans queued for insert before 503")
    max_batch_rows: int = Field(200_000, ge=1000)
    mapping_workers: int = Field(
        2, ge=0, le=64, description="processes decoding and mapping OTLP requests (0: in the serving process)"
    )
    insert_linger_ms: float = Field(
        50.0, ge=0, le=1000, description="the longest an insert waits for requests still being mapped"
    )
    land_above_spans_per_s: float = Field(
        20_000.0,
        ge=0,
        description="while spans arrive faster than this, they are committed into a landing table and reach "
        "otel_traces within a few seconds, in larger inserts (0: never; the embedded engine only)",
    )
    landing_move_s: float = Field(
        2.0, gt=0, le=60, description="how often spans that landed are moved into otel_traces"
    )
    trim_memory_s: float = Field(
        30.0, ge=0, description="how often the server hands its allocator's free pages back to the system (0: never)"
    )
    walk_ahead_s: float = Field(
        15.0,
        ge=0,
        description="how often journeys of the last 20 minutes are walked ahead of the live state (0: never; "
        "the embedded engine only)",
    )
    walk_ahead_settle_s: float = Field(
        30.0, ge=0, description="journeys are walked ahead up to this long before now (spans arrive late)"
    )
    evaluate_every_s: float = Field(5.0, gt=0, description="alert evaluation interval")
    evaluate_alerts: bool = True
    refresh_ms: int = Field(5000, ge=500, description="dashboard auto-refresh interval")

    # Access control, sessions and request limits (app/auth; docs/security.md).
    auth_file: Path | None = Field(
        None, description="users and API tokens (TOML or YAML); without it only a loopback bind may start"
    )
    allow_anonymous: bool = Field(
        False, description="serve beyond loopback without a users file: everyone who can reach it is admin"
    )
    secret_key: SecretStr | None = Field(
        None, description="signs session cookies; when unset, read from secret_key_file"
    )
    secret_key_file: Path = Field(
        Path(".touchpoint/secret_key"), description="created (mode 0600) on first start when missing"
    )
    token: SecretStr | None = Field(
        None, description="API token that client commands (demo, import, discover) send as a Bearer token"
    )
    secure_cookies: bool = Field(
        False, description="always mark cookies Secure (they are whenever the request came over HTTPS)"
    )
    forwarded_hops: int = Field(
        0, ge=0, le=5, description="trust X-Forwarded-For/-Proto/-Host from this many reverse proxies"
    )
    session_hours: float = Field(12.0, gt=0, le=24 * 30, description="a sign-in lasts this long")
    ingest_rate_per_s: float = Field(
        200.0, ge=0, description="OTLP requests per second per client (0: no limit)"
    )
    ingest_burst: int = Field(400, ge=1, description="OTLP requests a client may send at once above the rate")
    api_rate_per_s: float = Field(
        50.0, ge=0, description="API and dashboard requests per second per client (0: no limit)"
    )
    api_burst: int = Field(200, ge=1, description="API and dashboard requests a client may send at once")
    login_attempts_per_min: float = Field(
        10.0, gt=0, description="sign-in attempts per minute per address and per user name"
    )
    max_api_body_bytes: int = Field(
        1024 * 1024, ge=1024, description="request body limit for the API, the dashboard and sign-in"
    )
    ingest_concurrency: int = Field(
        0, ge=0, description="OTLP requests at once; more get 503 (0: half the threads; the rest serve UI)"
    )
    dedup_memory_spans: int = Field(
        1_000_000, ge=0, description="span ids remembered to drop retried spans (0: no deduplication)"
    )
    dedup_seed_hours: float = Field(
        1.0, ge=0, description="at start, remember the span ids stored with timestamps this recent"
    )

    def schema_options(self) -> SchemaOptions:
        """What the DDL depends on: every migration at start-up uses these, whichever part runs it.

        On the embedded engine every span comes through this process's writer, which then feeds the rollup
        itself (collectors.rollup_feed); a server may take spans from other writers too.
        """
        return SchemaOptions(
            ttl_days=self.ttl_days, cluster_name=self.cluster_name, rollup_feed=parse_dsn(self.db).embedded
        )
