"""The embedded engine's uncompressed cache: sized by the DSN, and used by the live state's reads of raw spans,
so that a dashboard asking again for the same window reads blocks it has already decompressed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from state_scenario import TWO_STEP_LINE, blueprint, insert, origin, step_span

from blueprints.state import compute_state
from collectors.db import DEFAULT_UNCOMPRESSED_CACHE_MB, parse_dsn
from collectors.errors import InvalidDsn


def test_dsn_sizes_the_embedded_cache_in_megabytes(tmp_path) -> None:
    assert parse_dsn(f"chdb://{tmp_path}?uncompressed_cache_mb=64").uncompressed_cache_mb == 64
    assert parse_dsn(f"chdb://{tmp_path}?database=x&uncompressed_cache_mb=0").uncompressed_cache_mb == 0
    assert parse_dsn(f"chdb://{tmp_path}").uncompressed_cache_mb == DEFAULT_UNCOMPRESSED_CACHE_MB


def test_dsn_cache_size_that_is_not_a_number_is_refused_with_the_value(tmp_path) -> None:
    with pytest.raises(InvalidDsn, match=r"uncompressed_cache_mb='lots' must be a whole number of megabytes"):
        parse_dsn(f"chdb://{tmp_path}?uncompressed_cache_mb=lots")


def test_dsn_unknown_option_names_the_known_ones(tmp_path) -> None:
    with pytest.raises(InvalidDsn, match=r"unknown option 'cache' \(known: database=, uncompressed_cache_mb=\)"):
        parse_dsn(f"chdb://{tmp_path}?cache=1")


def test_engine_started_by_a_dsn_has_the_cache_it_names(ch) -> None:
    (size,) = ch.query(
        "SELECT value FROM system.server_settings WHERE name = 'uncompressed_cache_size'"
    ).result_rows[0]
    assert int(size) == DEFAULT_UNCOMPRESSED_CACHE_MB * 2**20


def _cache_hits(ch) -> int:  # noqa: ANN001
    rows = ch.query("SELECT value FROM system.events WHERE event = 'UncompressedCacheHits'").result_rows
    return int(rows[0][0]) if rows else 0


def test_asking_again_for_a_window_reads_its_spans_from_the_cache(ch) -> None:
    insert(ch, origin(1), [step_span("a", 0, 1, f"j{n}") for n in range(50)]
           + [step_span("b", 3, 1, f"j{n}") for n in range(50)])  # fmt: skip
    start = origin(1)
    end = start + timedelta(minutes=15)
    ch.command("SYSTEM DROP UNCOMPRESSED CACHE")
    first = compute_state(ch, blueprint(TWO_STEP_LINE), start, end, end)
    before = _cache_hits(ch)
    again = compute_state(ch, blueprint(TWO_STEP_LINE), start, end, end)
    assert _cache_hits(ch) > before
    assert [(s.step_id, s.count) for s in again.steps] == [(s.step_id, s.count) for s in first.steps] == [
        ("a", 50),
        ("b", 50),
    ]
