"""Hostile bodies at POST /v1/traces over real HTTP: random and mutated protobuf, random and OTLP-shaped JSON
with wrong types and extreme values, broken gzip, odd headers, deep nesting. Every answer is a clear 4xx (or a
200 for what happens to be valid) within seconds; never a 5xx, never a hang, and the server keeps serving."""

from __future__ import annotations

import gzip
import json
import socket
import time
import zlib
from collections import Counter
from collections.abc import Iterator

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.server import BackgroundServer, serve_in_thread
from app.settings import Settings
from bench.otlp_payloads import build_request

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
ANSWERS = {200, 400, 413, 415}
MAX_BODY = 256 * 1024
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

TALLY: Counter[int] = Counter()


@pytest.fixture(scope="module")
def target(dsn: str) -> Iterator[BackgroundServer]:
    """A server with no ingest rate limit (hypothesis sends hundreds of requests a second), 256 KiB bodies."""
    running = serve_in_thread(
        Settings(db=dsn, port=0, evaluate_alerts=False, ingest_rate_per_s=0, max_body_bytes=MAX_BODY),
        start_hooks=[],
    )
    yield running
    health = requests.get(running.url + "/api/v1/health", timeout=10)
    running.stop()
    print(f"\nfuzz cases sent over HTTP: {sum(TALLY.values())}, answers: {dict(sorted(TALLY.items()))}")
    assert health.status_code == 200  # still serving after everything


def post(
    server: BackgroundServer, body: bytes, content_type: str, encoding: str | None = None
) -> requests.Response:
    headers = {"Content-Type": content_type}
    if encoding:
        headers["Content-Encoding"] = encoding
    answer = requests.post(server.url + "/v1/traces", data=body, headers=headers, timeout=10)
    TALLY[answer.status_code] += 1
    assert answer.status_code in ANSWERS, f"{answer.status_code}: {answer.text[:300]}"
    if answer.status_code != 200:
        assert answer.content, "a refusal says why"
    return answer


VALID = build_request(8, seed=5, start_ns=1_700_000_000_000_000_000).SerializeToString()


def mutate(body: bytes, edits: list[tuple[str, int, int]]) -> bytes:
    data = bytearray(body)
    for kind, where, value in edits:
        if not data:
            break
        i = where % len(data)
        if kind == "flip":
            data[i] ^= 1 << (value % 8)
        elif kind == "set":
            data[i] = value % 256
        elif kind == "insert":
            data[i:i] = bytes([value % 256]) * (1 + value % 7)
        elif kind == "delete":
            del data[i : i + 1 + value % 5]
        else:
            del data[i:]
    return bytes(data)


edits = st.lists(
    st.tuples(
        st.sampled_from(["flip", "set", "insert", "delete", "truncate"]),
        st.integers(0, 10_000),
        st.integers(0, 255),
    ),
    min_size=1,
    max_size=8,
)


@FUZZ
@given(st.binary(max_size=4096))
def test_random_bytes_as_protobuf(target: BackgroundServer, body: bytes) -> None:
    post(target, body, PROTOBUF)


@FUZZ
@given(edits)
def test_mutated_valid_protobuf(target: BackgroundServer, changes: list[tuple[str, int, int]]) -> None:
    post(target, mutate(VALID, changes), PROTOBUF)


@FUZZ
@given(edits, st.sampled_from(["gzip", "deflate"]))
def test_mutated_compressed_protobuf(target: BackgroundServer, changes: list, encoding: str) -> None:  # type: ignore[type-arg]
    packed = gzip.compress(VALID) if encoding == "gzip" else zlib.compress(VALID)
    post(target, mutate(packed, changes), PROTOBUF, encoding)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=25,
)


@FUZZ
@given(json_values)
def test_random_json(target: BackgroundServer, document: object) -> None:
    post(target, json.dumps(document).encode(), JSON)


hostile_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.text(max_size=40),
    st.sampled_from(
        ["", "0" * 32, "f" * 16, "zz" * 8, "-1", "1e309", "NaN", "18446744073709551616", "\u0000"]
    ),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def span_documents(leaf: st.SearchStrategy) -> st.SearchStrategy:  # type: ignore[type-arg]
    attribute = st.fixed_dictionaries(
        {"key": leaf},
        optional={
            "value": st.one_of(
                leaf,
                st.fixed_dictionaries(
                    {}, optional={"stringValue": leaf, "intValue": leaf, "doubleValue": leaf}
                ),
                st.fixed_dictionaries(
                    {"arrayValue": st.fixed_dictionaries({"values": st.lists(leaf, max_size=3)})}
                ),
                st.fixed_dictionaries(
                    {"kvlistValue": st.fixed_dictionaries({"values": st.lists(leaf, max_size=3)})}
                ),
            )
        },
    )
    span = st.fixed_dictionaries(
        {},
        optional={
            "traceId": leaf,
            "spanId": leaf,
            "parentSpanId": leaf,
            "name": leaf,
            "kind": leaf,
            "startTimeUnixNano": leaf,
            "endTimeUnixNano": leaf,
            "attributes": st.lists(attribute, max_size=3) | leaf,
            "events": st.lists(
                st.fixed_dictionaries({}, optional={"name": leaf, "timeUnixNano": leaf}), max_size=2
            ),
            "links": st.lists(
                st.fixed_dictionaries({}, optional={"traceId": leaf, "spanId": leaf}), max_size=2
            ),
            "status": st.fixed_dictionaries({}, optional={"code": leaf, "message": leaf}) | leaf,
        },
    )
    return st.fixed_dictionaries(
        {
            "resourceSpans": st.lists(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "resource": st.fixed_dictionaries(
                            {}, optional={"attributes": st.lists(attribute, max_size=2)}
                        ),
                        "scopeSpans": st.lists(
                            st.fixed_dictionaries(
                                {}, optional={"scope": leaf, "spans": st.lists(span, max_size=3)}
                            ),
                            max_size=2,
                        ),
                    },
                ),
                max_size=2,
            )
        }
    )


@FUZZ
@given(span_documents(hostile_leaves))
def test_otlp_shaped_json_with_hostile_values(target: BackgroundServer, document: dict) -> None:  # type: ignore[type-arg]
    post(target, json.dumps(document).encode(), JSON)


@FUZZ
@given(
    st.one_of(
        st.sampled_from([PROTOBUF, JSON, "", "text/plain", "application/x-protobuf; charset=x", "*/*"]),
        st.text(max_size=30),
    ),
    st.one_of(
        st.none(),
        st.sampled_from(["gzip", "deflate", "br", "identity", "GZIP", "gzip, gzip", ""]),
        st.text(max_size=12),
    ),
    st.binary(max_size=256),
)
def test_odd_content_types_and_encodings(
    target: BackgroundServer, content_type: str, encoding: str | None, body: bytes
) -> None:
    try:
        content_type.encode("latin-1")
        (encoding or "").encode("latin-1")
    except UnicodeEncodeError:
        return  # not sendable as an HTTP header
    headers = content_type + (encoding or "")
    if any(c in headers for c in "\r\n\x00") or content_type != content_type.strip():
        return  # requests refuses to send these
    if encoding is not None and encoding != encoding.strip():
        return
    post(target, body, content_type, encoding)


# ------------------------------------------------------------------ chosen cases


def test_deeply_nested_json_is_a_400_not_a_crash(target: BackgroundServer) -> None:
    as_list = post(target, b"[" * 200_000, JSON)
    as_object = post(target, b'{"a":' * 30_000 + b"1" + b"}" * 30_000, JSON)

    assert as_list.status_code == as_object.status_code == 400


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    length, size = bytearray(), len(payload)
    while True:
        length.append((size & 0x7F) | (0x80 if size > 0x7F else 0))
        size >>= 7
        if not size:
            break
    return bytes([number << 3 | 2]) + bytes(length) + payload


def test_deeply_nested_attribute_value_is_refused_or_stored_never_a_crash(target: BackgroundServer) -> None:
    value = _field(1, b"bottom")  # AnyValue.string_value
    for _ in range(150):
        value = _field(5, _field(1, value))  # AnyValue.array_value -> ArrayValue.values
    span = (
        _field(1, bytes(range(1, 17)))  # trace_id
        + _field(2, bytes(range(1, 9)))  # span_id
        + _field(5, b"deep")  # name
        + b"\x39"
        + (1_700_000_000_000_000_000).to_bytes(8, "little")  # start_time_unix_nano, fixed64
        + b"\x41"
        + (1_700_000_000_100_000_000).to_bytes(8, "little")  # end_time_unix_nano, fixed64
        + _field(9, _field(1, b"deep") + _field(2, value))  # attributes: KeyValue(key, value)
    )
    request = _field(1, _field(2, _field(2, span)))  # resource_spans -> scope_spans -> spans

    assert post(target, request, PROTOBUF).status_code in (200, 400)


def test_body_past_the_limit_is_a_413_plain_or_compressed(target: BackgroundServer) -> None:
    plain = post(target, b"\x00" * (MAX_BODY + 1), PROTOBUF)
    bomb = post(target, gzip.compress(b"\x00" * (MAX_BODY * 50)), PROTOBUF, "gzip")

    assert plain.status_code == bomb.status_code == 413


def test_body_shorter_than_announced_is_given_up_on(target: BackgroundServer) -> None:
    host, port = target.url.removeprefix("http://").split(":")
    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        raw.sendall(
            b"POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\n"
            b"Content-Length: 1000\r\n\r\n" + b"\x0a\x00" * 10
        )
        raw.shutdown(socket.SHUT_WR)
        raw.recv(65536)  # the server closes or answers; it does not wait for bytes that never come

    assert time.monotonic() - started < 10
    assert requests.get(target.url + "/api/v1/health", timeout=10).status_code == 200


@pytest.mark.parametrize("length", [b"-1", b"abc", b"99999999999999999999"])
def test_nonsense_content_length_is_a_4xx(target: BackgroundServer, length: bytes) -> None:
    host, port = target.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        raw.sendall(
            b"POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\n"
            b"Content-Length: " + length + b"\r\nConnection: close\r\n\r\n"
        )
        status_line = raw.recv(65536).split(b"\r\n", 1)[0]

    assert status_line.startswith(b"HTTP/1.1 4"), status_line
