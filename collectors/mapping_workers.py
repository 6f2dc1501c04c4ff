"""Decoding and mapping OTLP request bodies in worker processes.

A receiving process maps every span of every request to Arrow in Python (collectors.otlp_mapping): with a
few clients posting at once, that mapping holds the interpreter lock for most of a request's life, and the
requests wait for each other's mapping rather than for ClickHouse. :class:`MappingWorkers` hands each body
to one of a few spawned processes over its own pipe and reads the rows back as an Arrow stream, so mapping
runs on every core and the receiving process only reads bodies, drops resent spans and commits.

The workers hold no database connection: they only turn bytes into rows. A worker that dies takes only the
mapping it was doing: that request is mapped in the receiving process and a new worker takes the dead one's
place. While no worker has started yet, or none is free for `wait_s`, a request is mapped in the receiving
process too, so a request never waits long for want of a worker.
"""

from __future__ import annotations

import gc
import json
import logging
import multiprocessing
import queue
import signal
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

import pyarrow as pa

from collectors.errors import DecodeError
from collectors.otlp_mapping import SpanBatch, map_body

log = logging.getLogger(__name__)

# a worker's answer: rows follow, the body could not be decoded, or mapping failed some other way (a bug the
# receiving process then meets again, mapping the body itself, and reports as it would without workers)
_ROWS, _REFUSED, _FAILED = b"R", b"E", b"X"
_READY = b"ready"


@dataclass
class MappingStats:
    """Counters for /api/v1/health."""

    processes: int = 0  # configured
    ready: int = 0  # started and not known dead
    in_workers: int = 0  # requests mapped by a worker
    in_process: int = 0  # requests mapped in the receiving process (no worker free, or one died)
    restarts: int = 0  # workers started to replace dead ones


class _Worker:
    def __init__(self, process: BaseProcess, conn: Connection) -> None:
        self.process = process
        self.conn = conn


class MappingWorkers:
    """`processes` spawned processes running :func:`~collectors.otlp_mapping.map_body`; thread-safe.

    Use :meth:`map_body` where the receiver would call the function of that name.
    """

    def __init__(self, processes: int, wait_s: float = 1.0) -> None:
        if processes < 1:
            raise ValueError(f"mapping workers: processes must be at least 1, got {processes}")
        self.wait_s = wait_s
        self.stats = MappingStats(processes=processes)
        self._context = multiprocessing.get_context("spawn")  # the engine's threads make fork unsafe
        self._idle: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._started = threading.Condition(self._lock)
        self._workers: list[_Worker] = []
        self._closed = False
        for _ in range(processes):
            self._start_worker()

    def map_body(self, body: bytes, as_json: bool) -> SpanBatch:
        """Decode and map a body in a free worker (else here); raises DecodeError for a bad body."""
        try:
            worker = self._idle.get(timeout=self.wait_s) if self.stats.ready else self._idle.get_nowait()
        except queue.Empty:
            worker = None
        if worker is None or self._closed:
            if worker is not None:
                self._idle.put(worker)
            return self._map_here(body, as_json)
        try:
            worker.conn.send_bytes(b"\x01" if as_json else b"\x00")
            worker.conn.send_bytes(body)
            kind = worker.conn.recv_bytes()
            payload = worker.conn.recv_bytes()
            if kind == _ROWS:
                rows = worker.conn.recv_bytes()
        except (OSError, EOFError):
            self._replace(worker)
            return self._map_here(body, as_json)
        self._idle.put(worker)
        if kind == _FAILED:
            return self._map_here(body, as_json)
        self.stats.in_workers += 1
        if kind == _REFUSED:
            raise DecodeError(payload.decode())
        rejected, rejections = json.loads(payload)
        table = pa.ipc.open_stream(pa.py_buffer(rows)).read_all()
        return SpanBatch(table=table, rejected=rejected, rejections=rejections)

    def _map_here(self, body: bytes, as_json: bool) -> SpanBatch:
        self.stats.in_process += 1
        return map_body(body, as_json)

    def wait_ready(self, timeout: float) -> bool:
        """Wait until every worker has started; False if that took longer than `timeout` seconds."""
        with self._started:
            return self._started.wait_for(lambda: self.stats.ready >= self.stats.processes, timeout)

    @property
    def pids(self) -> list[int]:
        """The process ids of the workers running now."""
        with self._lock:
            return [w.process.pid for w in self._workers if w.process.pid is not None]

    def close(self, timeout: float = 5.0) -> None:
        """Stop the workers (call it once no request is being mapped); later calls map in this process."""
        with self._lock:
            self._closed = True
            workers, self._workers = self._workers, []
            self.stats.ready = 0
        for worker in workers:
            worker.process.terminate()  # they hold nothing worth a goodbye, and one may still be starting
        for worker in workers:
            worker.process.join(timeout)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(timeout)
            worker.conn.close()

    def _start_worker(self) -> None:
        """Spawn a worker; it joins the idle ones once it has imported what mapping needs. Where no process can
        be spawned, that is logged and requests go on being mapped in this process."""
        ours, theirs = self._context.Pipe(duplex=True)
        process = self._context.Process(target=_serve, args=(theirs,), name="touchpoint-span-mapper", daemon=True)
        try:
            process.start()
        except OSError as exc:
            log.error("cannot start a span mapping worker", extra={"error": str(exc)})
            ours.close()
            theirs.close()
            return
        theirs.close()
        worker = _Worker(process, ours)
        with self._lock:
            if self._closed:
                ours.close()
                return
            self._workers.append(worker)
        threading.Thread(target=self._await_ready, args=(worker,), name="span-mapper-start", daemon=True).start()

    def _await_ready(self, worker: _Worker) -> None:
        try:
            if worker.conn.recv_bytes() == _READY:
                self._idle.put(worker)
                with self._started:
                    self.stats.ready += 1
                    self._started.notify_all()
                return
        except (OSError, EOFError):
            pass
        if self._closed:
            return
        log.error("a span mapping worker did not start", extra={"exitcode": worker.process.exitcode})
        with self._lock:
            if worker in self._workers:
                self._workers.remove(worker)

    def _replace(self, dead: _Worker) -> None:
        log.error("a span mapping worker died; starting another", extra={"exitcode": dead.process.exitcode})
        dead.conn.close()
        dead.process.join(1.0)
        with self._lock:
            if dead not in self._workers:
                return
            self._workers.remove(dead)
            self.stats.ready -= 1
            self.stats.restarts += 1
        self._start_worker()


def _serve(conn: Connection) -> None:
    """A worker's loop: (flag, body) in; ("R", [rejected, rejections], Arrow stream), ("E", decode error) or
    ("X", any other failure) out."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the receiving process decides when workers stop
    from collectors.otlp_columns import warm_up

    warm_up()
    # Mapping a request makes thousands of short-lived containers (a tuple per span, in places), enough to
    # start several collections per request, each walking the request's large lists: the collector waits
    # until a request is mapped, and never walks what was loaded at start.
    gc.freeze()
    conn.send_bytes(_READY)
    while True:
        try:
            as_json = conn.recv_bytes() == b"\x01"
            body = conn.recv_bytes()
        except (OSError, EOFError):
            return
        gc.disable()
        try:
            batch = map_body(body, as_json)
        except DecodeError as exc:
            conn.send_bytes(_REFUSED)
            conn.send_bytes(str(exc).encode())
            continue
        except Exception as exc:  # noqa: BLE001 - the worker lives on; the receiving process reports it
            conn.send_bytes(_FAILED)
            conn.send_bytes(repr(exc).encode())
            continue
        finally:
            gc.enable()
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, batch.table.schema) as writer:
            writer.write_table(batch.table)
        conn.send_bytes(_ROWS)
        conn.send_bytes(json.dumps([batch.rejected, batch.rejections]).encode())
        conn.send_bytes(sink.getvalue())
