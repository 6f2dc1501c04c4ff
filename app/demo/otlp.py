"""The network edge of the demo: where a Touchpoint server takes spans, and whether it is there."""

from __future__ import annotations

import logging

import requests
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from app.demo.errors import ServerUnreachable
from app.demo.export import ExporterFactory

TRACES_PATH = "/v1/traces"
_SDK_LOGGERS = (
    "opentelemetry.exporter.otlp.proto.http",
    "opentelemetry.exporter.otlp.common",
    "opentelemetry.sdk._shared_internal",
    "opentelemetry.sdk.trace.export",
)


def traces_endpoint(url: str) -> str:
    """The OTLP/HTTP traces endpoint of the server at base `url`."""
    return url.rstrip("/") + TRACES_PATH


def check_server(url: str, *, timeout_s: float = 3.0) -> None:
    """Post an empty OTLP export to the server; raises ServerUnreachable saying what is wrong, what to do."""
    endpoint = traces_endpoint(url)
    body = ExportTraceServiceRequest().SerializeToString()
    try:
        response = requests.post(
            endpoint, data=body, timeout=timeout_s, headers={"Content-Type": "application/x-protobuf"}
        )
    except requests.ConnectionError:
        raise ServerUnreachable(
            f"cannot reach a Touchpoint server at {url} (nothing answered at {endpoint}). "
            "Start one with `touchpoint serve`, or point --url at it."
        ) from None
    except requests.Timeout:
        raise ServerUnreachable(
            f"the Touchpoint server at {url} did not answer within {timeout_s:g}s"
        ) from None
    except requests.RequestException as exc:
        raise ServerUnreachable(f"cannot send spans to {endpoint}: {exc}") from None
    if not 200 <= response.status_code < 300:
        raise ServerUnreachable(
            f"{endpoint} answered HTTP {response.status_code} to an empty OTLP export; "
            "is --url a Touchpoint server (or another OTLP/HTTP receiver)?"
        )


def otlp_exporter_factory(url: str, *, timeout_s: float = 5.0) -> ExporterFactory:
    """Makes OTLP/HTTP protobuf exporters that send to the server at `url`."""
    endpoint = traces_endpoint(url)

    def make() -> OTLPSpanExporter:
        return OTLPSpanExporter(endpoint=endpoint, timeout=timeout_s)

    return make


def quiet_sdk_logs() -> None:
    """Keep the SDK's export errors (with their retries and stack traces) off the terminal;
    the demo counts failed batches itself and reports them in one line."""
    for name in _SDK_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL)
