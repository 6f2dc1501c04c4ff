"""One settings object, built once from CLI flags and TOUCHPOINT_* environment variables, passed down."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from collectors.db import DEFAULT_DSN
from collectors.schema import CLUSTER_NAME_PATTERN


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
    evaluate_every_s: float = Field(5.0, gt=0, description="alert evaluation interval")
    evaluate_alerts: bool = True
    refresh_ms: int = Field(5000, ge=500, description="dashboard auto-refresh interval")
