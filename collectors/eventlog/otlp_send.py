"""Sending OTLP trace requests over HTTP/protobuf: gzip bodies, retries on 'busy', partial success.

Only how requests travel lives here; what they contain is otlp_encode's job. The sleeper is a
constructor argument so retries can be exercised without waiting.
"""

from __future__ import annotations

import gzip
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import requests
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from collectors.eventlog.errors import ServerRejected, ServerUnreachable

log = logging.getLogger(__name__)

DEFAULT_URL = "http://127.0.0.1:8050"
TRACES_PATH = "/v1/traces"
RETRY_STATUSES = frozenset({429, 502, 503, 504})
MAX_RETRY_WAIT_S = 60.0


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """What the server said about one request: spans it rejected (partial success) and why."""

    rejected_spans: int = 0
    message: str = ""


def traces_url(url: str) -> str:
    """The OTLP traces endpoint for a server URL: ``/v1/traces`` appended unless already there."""
    url = url.rstrip("/")
    return url if url.endswith(TRACES_PATH) else url + TRACES_PATH


class OtlpTraceSender:
    """POSTs ExportTraceServiceRequests to one OTLP/HTTP endpoint.

    Answers 429, 502, 503 and 504 are retried after the server's Retry-After (seconds or HTTP date) or
    else an exponential backoff from `backoff_s`, up to `max_attempts` tries; a refused or timed-out
    connection is retried up to `connect_attempts` tries. Raises ServerUnreachable when the budget is
    spent and ServerRejected for any other non-2xx answer.
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        timeout_s: float = 30.0,
        max_attempts: int = 6,
        connect_attempts: int = 3,
        backoff_s: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = traces_url(url)
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.connect_attempts = connect_attempts
        self.backoff_s = backoff_s
        self.sleep = sleep
        self.session = requests.Session()
        self.session.headers.update({"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"})

    def send(self, request: ExportTraceServiceRequest) -> SendOutcome:
        """Deliver one request; the outcome reports the spans the server accepted only partly."""
        body = gzip.compress(request.SerializeToString(), compresslevel=6)
        busy_tries = connect_tries = 0
        while True:
            try:
                response = self.session.post(self.url, data=body, timeout=self.timeout_s)
            except (requests.ConnectionError, requests.Timeout) as err:
                connect_tries += 1
                if connect_tries >= self.connect_attempts:
                    raise ServerUnreachable(
                        f"cannot reach {self.url}: {_reason(err)}; "
                        "is `touchpoint serve` running there? (--url)"
                    ) from None
                self.sleep(self._backoff(connect_tries))
                continue
            if response.status_code in RETRY_STATUSES:
                busy_tries += 1
                if busy_tries >= self.max_attempts:
                    raise ServerUnreachable(
                        f"{self.url} still answers {response.status_code} after {busy_tries} tries "
                        f"({_server_message(response)}); try again later"
                    )
                wait = _retry_after(response.headers.get("Retry-After"), time.time())
                wait = self._backoff(busy_tries) if wait is None else wait
                log.info(
                    "server busy (HTTP %s), retrying in %.1f s",
                    response.status_code,
                    wait,
                    extra={"status": response.status_code, "wait_s": wait},
                )
                self.sleep(wait)
                continue
            if not 200 <= response.status_code < 300:
                raise ServerRejected(
                    f"{self.url} refused the request: "
                    f"HTTP {response.status_code} {_server_message(response)}",
                    response.status_code,
                )
            return _outcome(response)

    def close(self) -> None:
        """Release the connection pool."""
        self.session.close()

    def _backoff(self, tries: int) -> float:
        return min(self.backoff_s * 2.0 ** (tries - 1), MAX_RETRY_WAIT_S)


def _retry_after(header: str | None, now_s: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta seconds or an HTTP date), capped; None if absent."""
    if not header:
        return None
    header = header.strip()
    try:
        seconds = float(header)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(header).timestamp() - now_s
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), MAX_RETRY_WAIT_S)


def _outcome(response: requests.Response) -> SendOutcome:
    """The partial success in an OTLP answer, protobuf or JSON; an empty body means all were accepted."""
    if not response.content:
        return SendOutcome()
    try:
        if "json" in response.headers.get("Content-Type", ""):
            answer = json_format.Parse(
                response.text, ExportTraceServiceResponse(), ignore_unknown_fields=True
            )
        else:
            answer = ExportTraceServiceResponse.FromString(response.content)
    except (DecodeError, json_format.ParseError):
        return SendOutcome()
    partial = answer.partial_success
    return SendOutcome(rejected_spans=partial.rejected_spans, message=partial.error_message)


def _reason(err: Exception) -> str:
    if isinstance(err, requests.Timeout):
        return "no answer in time"
    text = str(err)
    return "connection refused" if "refused" in text.lower() else text


def _server_message(response: requests.Response, limit: int = 300) -> str:
    """The message of an OTLP error answer (a google.rpc.Status, protobuf or JSON), else the body's text."""
    text = response.text
    try:
        if "json" in response.headers.get("Content-Type", ""):
            text = json_format.Parse(response.text, status_pb2.Status(), ignore_unknown_fields=True).message
        elif "protobuf" in response.headers.get("Content-Type", ""):
            text = status_pb2.Status.FromString(response.content).message
    except (DecodeError, json_format.ParseError):
        pass
    text = " ".join(text.split()) or "no message"
    return text if len(text) <= limit else text[:limit] + "..."
