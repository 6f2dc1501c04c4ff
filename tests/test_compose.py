"""docker-compose.yml, the Dockerfile and the collector configuration, checked by structure.

No container runs here: the files are parsed with a YAML parser and their wiring followed end to end —
images pinned, credentials from the environment reaching every user of them, ports, health checks, both
collector pipelines pointing where they must — and the collector exporter's INSERT is run against a real
otel_traces table made by our DDL.
"""

from __future__ import annotations

import re
import shlex
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from ruamel.yaml import YAML

from collectors.db import parse_dsn
from collectors.schema import TRACES_COLUMNS, TRACES_TABLE

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "0123abcdef"  # what an operator puts in .env


def _load(path: Path) -> Any:
    return YAML(typ="safe").load(path.read_text())


COMPOSE = _load(ROOT / "docker-compose.yml")
SERVICES = COMPOSE["services"]
COLLECTOR_CONFIG = _load(ROOT / "collectors" / "otelcol" / "config.yaml")


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's variable substitution: $$, ${VAR}, ${VAR:-default}, ${VAR:?error}."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group(1), match.group(2), match.group(3)
        if env.get(name):
            return env[name]
        if op == ":?":
            raise AssertionError(f"${{{name}}} is required: {arg}")
        return arg or ""

    return re.sub(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:[?-])([^}]*))?\}", one, value)


def environment(service: str, env: dict[str, str] | None = None) -> dict[str, str]:
    """A service's environment as the container sees it, with the operator's .env applied."""
    raw = SERVICES[service].get("environment", {})
    operator_env = {"CLICKHOUSE_PASSWORD": PASSWORD} if env is None else env
    return {k: interpolate(str(v), operator_env) for k, v in raw.items()}


def collector_value(value: str) -> str:
    """A collector config value with ${env:NAME} taken from the collector service's environment."""
    env = environment("otel-collector")
    return re.sub(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}", lambda m: env[m.group(1)], value)


def container_ports(service: str) -> set[int]:
    return {int(str(p).split(":")[-1].split("/")[0]) for p in SERVICES[service].get("ports", [])}


# ---------------------------------------------------------------- images and build


@pytest.mark.parametrize(
    ("service", "repository"),
    [
        ("clickhouse", "clickhouse/clickhouse-server"),
        ("otel-collector", "otel/opentelemetry-collector-contrib"),
    ],
)
def test_third_party_images_are_pinned_to_exact_versions(service: str, repository: str) -> None:
    image = SERVICES[service]["image"]
    assert re.fullmatch(rf"{re.escape(repository)}:\d+\.\d+\.\d+(\.\d+)?", image), image


def test_the_touchpoint_image_is_built_from_the_dockerfile_with_pinned_base_and_gunicorn() -> None:
    assert SERVICES["touchpoint"]["build"] == "."
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.\d+\.\d+-slim-\w+$", dockerfile, re.M)
    assert re.search(r'"gunicorn==\d+\.\d+\.\d+"', dockerfile)
    for copied in re.findall(r"^COPY (\S+)", dockerfile, re.M):
        assert (ROOT / copied).exists(), f"the Dockerfile copies {copied}, which is not in the repository"
    assert re.search(r"^USER (?!root)\w+", dockerfile, re.M), "the server should not run as root"


# ---------------------------------------------------------------- ClickHouse


def test_clickhouse_keeps_its_data_in_a_named_volume() -> None:
    volumes = SERVICES["clickhouse"]["volumes"]
    assert "clickhouse-data:/var/lib/clickhouse" in volumes
    assert "clickhouse-data" in COMPOSE["volumes"]


def test_clickhouse_has_a_user_of_its_own_whose_password_must_come_from_the_environment() -> None:
    env = SERVICES["clickhouse"]["environment"]
    assert env["CLICKHOUSE_USER"] not in ("", "default")
    assert env["CLICKHOUSE_PASSWORD"].startswith("${CLICKHOUSE_PASSWORD:?")
    with pytest.raises(AssertionError, match="CLICKHOUSE_PASSWORD.* is required"):
        environment("clickhouse", env={})
    assert environment("clickhouse")["CLICKHOUSE_PASSWORD"] == PASSWORD


def test_clickhouse_is_healthy_only_when_touchpoints_user_can_query_its_database() -> None:
    check = SERVICES["clickhouse"]["healthcheck"]
    assert check["test"][0] == "CMD-SHELL"
    command = interpolate(check["test"][1], {})  # $$ reaches the container's shell as $
    assert '--user "$CLICKHOUSE_USER"' in command and '--password "$CLICKHOUSE_PASSWORD"' in command
    assert '--database "$CLICKHOUSE_DB"' in command and "SELECT 1" in command


# ---------------------------------------------------------------- Touchpoint


def test_touchpoint_reaches_the_server_as_that_user_in_that_database() -> None:
    clickhouse = environment("clickhouse")
    dsn = parse_dsn(environment("touchpoint")["TOUCHPOINT_DB"])
    parts = urlsplit(dsn.url)
    assert (dsn.kind, parts.hostname, parts.port) == ("http", "clickhouse", 8123)
    assert (parts.username, parts.password) == (
        clickhouse["CLICKHOUSE_USER"],
        clickhouse["CLICKHOUSE_PASSWORD"],
    )
    assert dsn.database == clickhouse["CLICKHOUSE_DB"]


def test_touchpoint_runs_several_gunicorn_workers_from_app_wsgi() -> None:
    command = SERVICES["touchpoint"]["command"]
    assert command[:3] == ["gunicorn", "-c", "python:app.wsgi"]
    assert int(command[command.index("--workers") + 1]) >= 2
    assert command[command.index("--bind") + 1] == "0.0.0.0:8050"
    assert 8050 in container_ports("touchpoint")


def test_touchpoint_starts_once_clickhouse_is_healthy_and_reports_its_own_health() -> None:
    assert SERVICES["touchpoint"]["depends_on"]["clickhouse"]["condition"] == "service_healthy"
    check = SERVICES["touchpoint"]["healthcheck"]["test"]
    assert check[0] == "CMD" and "http://127.0.0.1:8050/api/v1/health" in check[-1]


# ---------------------------------------------------------------- the collector


def test_the_collector_receives_otlp_on_4317_and_4318_and_waits_for_what_it_feeds() -> None:
    assert {4317, 4318} <= container_ports("otel-collector")
    protocols = COLLECTOR_CONFIG["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"].endswith(":4317")
    assert protocols["http"]["endpoint"].endswith(":4318")
    direct = COLLECTOR_CONFIG["receivers"]["otlp/direct"]["protocols"]
    assert {int(p["endpoint"].rsplit(":", 1)[1]) for p in direct.values()} <= container_ports(
        "otel-collector"
    )
    depends = SERVICES["otel-collector"]["depends_on"]
    assert {name: d["condition"] for name, d in depends.items()} == {
        "clickhouse": "service_healthy",
        "touchpoint": "service_healthy",
    }


def test_the_collector_runs_the_config_from_collectors_otelcol() -> None:
    service = SERVICES["otel-collector"]
    config_path = next(a.split("=", 1)[1] for a in service["command"] if a.startswith("--config="))
    mounts = {m.split(":")[1]: m.split(":")[0] for m in service["volumes"]}
    assert mounts[config_path] == "./collectors/otelcol/config.yaml"
    assert (ROOT / mounts[config_path]).exists()


def test_every_pipeline_uses_defined_components_and_no_receiver_feeds_two_pipelines() -> None:
    pipelines = COLLECTOR_CONFIG["service"]["pipelines"]
    assert set(pipelines) == {"traces/touchpoint", "traces/clickhouse"}
    for pipeline in pipelines.values():
        for kind in ("receivers", "processors", "exporters"):
            assert set(pipeline[kind]) <= set(COLLECTOR_CONFIG[kind])
    receivers = [r for p in pipelines.values() for r in p["receivers"]]
    assert len(receivers) == len(set(receivers)), "a span would be written twice"


def test_the_forward_pipeline_sends_otlp_to_touchpoints_receiver() -> None:
    pipeline = COLLECTOR_CONFIG["service"]["pipelines"]["traces/touchpoint"]
    assert pipeline["receivers"] == ["otlp"] and pipeline["exporters"] == ["otlphttp/touchpoint"]
    exporter = COLLECTOR_CONFIG["exporters"]["otlphttp/touchpoint"]
    endpoint = urlsplit(collector_value(exporter["traces_endpoint"]))
    assert endpoint.hostname == "touchpoint" and endpoint.path == "/v1/traces"
    bind = SERVICES["touchpoint"]["command"][SERVICES["touchpoint"]["command"].index("--bind") + 1]
    assert endpoint.port == int(bind.rsplit(":", 1)[1])
    assert exporter["encoding"] == "proto" and exporter["compression"] == "gzip"


def test_the_direct_pipeline_writes_into_touchpoints_own_otel_traces_table() -> None:
    pipeline = COLLECTOR_CONFIG["service"]["pipelines"]["traces/clickhouse"]
    assert pipeline["receivers"] == ["otlp/direct"] and pipeline["exporters"] == ["clickhouse"]
    exporter = COLLECTOR_CONFIG["exporters"]["clickhouse"]
    clickhouse = environment("clickhouse")
    assert exporter["traces_table_name"] == TRACES_TABLE
    assert exporter["create_schema"] is False  # the table is ours, created by Touchpoint's migrations
    assert collector_value(exporter["database"]) == clickhouse["CLICKHOUSE_DB"]
    assert collector_value(exporter["username"]) == clickhouse["CLICKHOUSE_USER"]
    assert collector_value(exporter["password"]) == clickhouse["CLICKHOUSE_PASSWORD"]
    assert urlsplit(collector_value(exporter["endpoint"])).hostname == "clickhouse"


def test_passwords_are_never_written_into_the_files() -> None:
    for path in ("docker-compose.yml", "collectors/otelcol/config.yaml", "Dockerfile"):
        text = (ROOT / path).read_text()
        assert not re.search(r"(?i)password\W*[:=]\s*['\"]?(?!\$)\w", text), path
        assert not re.search(r"://\w+:(?!\$)\w+@", text), path


# The clickhouse exporter's INSERT for traces (contrib exporter/clickhouseexporter, traces_insert.sql at
# the pinned collector version): these columns, in this order.
EXPORTER_INSERT_COLUMNS = (
    "Timestamp", "TraceId", "SpanId", "ParentSpanId", "TraceState", "SpanName", "SpanKind", "ServiceName",
    "ResourceAttributes", "ScopeName", "ScopeVersion", "SpanAttributes", "Duration", "StatusCode",
    "StatusMessage", "Events.Timestamp", "Events.Name", "Events.Attributes", "Links.TraceId", "Links.SpanId",
    "Links.TraceState", "Links.Attributes",
)  # fmt: skip


def test_the_exporters_insert_lands_in_our_otel_traces_as_it_is(ch) -> None:  # noqa: ANN001
    assert tuple(name for name, _ in TRACES_COLUMNS) == EXPORTER_INSERT_COLUMNS
    stamp = datetime(2025, 5, 1, 9, 30, tzinfo=UTC)
    row = [
        stamp, "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174", "", "", "pay", "Server", "payments",
        {"service.name": "payments"}, "scope", "1.0", {"journey.id": "j-7", "blueprint.step": "pay"},
        1_500_000, "Ok", "", [stamp], ["retry"], [{"attempt": "2"}], [], [], [], [],
    ]  # fmt: skip
    ch.insert(TRACES_TABLE, [row], column_names=list(EXPORTER_INSERT_COLUMNS))
    stored = ch.query(
        f"SELECT ServiceName, SpanAttributes['journey.id'], Duration, Events.Name FROM {TRACES_TABLE} "
        "WHERE SpanId = 'eee19b7ec3c1b174'"
    ).result_rows
    assert stored == [("payments", "j-7", 1_500_000, ["retry"])]


def test_the_compose_command_line_is_what_the_dockerfile_runs_by_default() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    cmd = re.search(r"^CMD (\[.*\])$", dockerfile, re.M)
    assert cmd is not None
    assert shlex.split(cmd.group(1).strip("[]").replace(",", " ")) == SERVICES["touchpoint"]["command"]
