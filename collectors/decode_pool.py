"""Decoding and mapping OTLP bodies off the server's GIL, in worker processes.

Mapping spans to columns is Python work bound by one interpreter lock; the inserts run in ClickHouse's own
threads. With worker processes the server's interpreter only moves bytes: each worker returns the rows as an
Arrow IPC stream, which the server reads back without copying column data.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os

import pyarrow as pa

from collectors.otlp_mapping import SpanBatch, decode_json, decode_protobuf, spans_to_arrow


def decode_body(body: bytes, as_json: bool) -> SpanBatch:
    """Decode one request body and map its spans (raises DecodeError)."""
    request = decode_json(body) if as_json else decode_protobuf(body)
    return spans_to_arrow(request)


def _decode_to_ipc(body: bytes, as_json: bool) -> tuple[bytes, int, list[str]]:
    batch = decode_body(body, as_json)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.table.schema) as writer:
        writer.write_table(batch.table)
    return sink.getvalue().to_pybytes(), batch.rejected, batch.rejections


def default_workers() -> int:
    """One worker per core beyond the first (the server's own interpreter keeps one)."""
    return max(0, (os.cpu_count() or 1) - 1)


class DecodePool:
    """Decodes bodies in `workers` processes, or in the calling thread when `workers` is 0."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._executor: concurrent.futures.ProcessPoolExecutor | None = None
        if workers > 0:
            self._executor = concurrent.futures.ProcessPoolExecutor(
                max_workers=workers, mp_context=multiprocessing.get_context("spawn")
            )

    def decode(self, body: bytes, as_json: bool) -> SpanBatch:
        """The rows of one body; DecodeError for undecodable input, as in-process decoding would raise."""
        if self._executor is None:
            return decode_body(body, as_json)
        ipc, rejected, rejections = self._executor.submit(_decode_to_ipc, body, as_json).result()
        table = pa.ipc.open_stream(pa.py_buffer(ipc)).read_all()
        return SpanBatch(table=table, rejected=rejected, rejections=rejections)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
