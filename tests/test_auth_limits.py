"""Per-client rate limits (token buckets) on the API, the dashboard, OTLP ingest and sign-in: a client over
its rate gets 429 with Retry-After; other clients are not slowed by it."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests
from auth_client import AppServer, bearer, form_token, signin_settings, start_app_server

from app.auth.admission import IngestGate
from app.auth.ratelimit import ClientBuckets, RateLimit, TokenBucket
from bench.otlp_payloads import build_request


def test_bucket_allows_a_burst_then_the_rate() -> None:
    bucket = TokenBucket(rate_per_s=2, burst=3, tokens=3, updated_s=0.0)

    assert [bucket.take(0.0) for _ in range(3)] == [0, 0, 0]
    assert bucket.take(0.0) == pytest.approx(0.5)  # the next token comes in half a second
    assert bucket.take(0.5) == 0
    assert bucket.take(0.5) == pytest.approx(0.5)


def test_bucket_refills_to_its_burst_and_no_further() -> None:
    bucket = TokenBucket(rate_per_s=10, burst=2, tokens=0, updated_s=0.0)

    bucket.take(100.0, cost=0)

    assert bucket.tokens == 2


def test_each_client_has_its_own_bucket() -> None:
    buckets = ClientBuckets(RateLimit(rate_per_s=1, burst=1))

    assert buckets.take("a", 0.0) == 0
    assert buckets.take("a", 0.0) > 0
    assert buckets.take("b", 0.0) == 0


def test_buckets_are_bounded_in_number() -> None:
    buckets = ClientBuckets(RateLimit(rate_per_s=1, burst=1), max_clients=100)

    for n in range(10_000):
        buckets.take(f"addr:10.0.{n // 256}.{n % 256}", 0.0)

    assert len(buckets) == 100


def test_rate_zero_means_no_limit() -> None:
    buckets = ClientBuckets(RateLimit(rate_per_s=0, burst=1))

    assert all(buckets.take("a", 0.0) == 0 for _ in range(1000))


def test_ingest_gate_admits_up_to_its_limit() -> None:
    gate = IngestGate(2)

    assert gate.enter() and gate.enter()
    assert not gate.enter()
    gate.leave()
    assert gate.enter()
    assert gate.turned_away == 1


# ------------------------------------------------------------------ over HTTP


@pytest.fixture(scope="module")
def strict(dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    """A server with small limits: 5 API calls then 1 a second, 3 OTLP requests, 3 sign-ins a minute."""
    settings = signin_settings(
        dsn,
        tmp_path_factory.mktemp("limits"),
        api_rate_per_s=1,
        api_burst=5,
        ingest_rate_per_s=0.5,
        ingest_burst=3,
        login_attempts_per_min=3,
    )
    running = start_app_server(settings)
    yield running
    running.stop()


def test_api_client_over_its_rate_gets_429_with_retry_after(strict: AppServer) -> None:
    answers = [requests.get(strict.url + "/api/v1/auth/whoami", headers=bearer("reader")) for _ in range(7)]

    assert [a.status_code for a in answers[:5]] == [200] * 5
    assert answers[-1].status_code == 429
    assert int(answers[-1].headers["Retry-After"]) >= 1
    assert answers[-1].json()["error"].startswith("too many requests from token:reader: retry in")


def test_one_clients_flood_does_not_slow_another(strict: AppServer) -> None:
    for _ in range(10):
        requests.get(strict.url + "/api/v1/auth/whoami", headers=bearer("reader"))

    assert requests.get(strict.url + "/api/v1/auth/whoami", headers=bearer("oncall-bot")).status_code == 200


def test_ingest_client_over_its_rate_gets_429(strict: AppServer) -> None:
    body = build_request(3, seed=7, start_ns=time.time_ns()).SerializeToString()
    headers = {"Content-Type": "application/x-protobuf", **bearer("collector")}

    statuses = [
        requests.post(strict.url + "/v1/traces", data=body, headers=headers).status_code for _ in range(5)
    ]

    assert statuses[:3] == [200, 200, 200]
    assert statuses[-1] == 429


def test_sign_in_attempts_are_throttled(strict: AppServer) -> None:
    browser = requests.Session()
    token = form_token(browser.get(strict.url + "/login").text)
    form = {"user": "vic", "password": "guess", "csrf_token": token}

    answers = [browser.post(strict.url + "/login", data=form) for _ in range(4)]

    assert [a.status_code for a in answers] == [401, 401, 401, 429]
    assert "Too many attempts" in answers[-1].text
    assert int(answers[-1].headers["Retry-After"]) >= 1
