"""Opening an event log file: plain or gzip, XES or CSV, and the names derived from its file name."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from collectors.eventlog.csv_log import read_csv
from collectors.eventlog.errors import LogUnreadable
from collectors.eventlog.model import Event, LogFormat, LogMapping, Malformed
from collectors.eventlog.xes import read_xes

GZIP_MAGIC = b"\x1f\x8b"
CSV_SUFFIXES = frozenset({".csv", ".tsv", ".txt"})


def read_log(
    path: str | Path, mapping: LogMapping | None = None, log_format: LogFormat | None = None
) -> Iterator[Event | Malformed]:
    """Every event of the log at `path` (XES or CSV, optionally gzip-compressed), or why one is malformed.

    The format is `log_format`, else the file name's suffix (``.xes``, ``.csv``, ``.tsv``, ``.txt``,
    each optionally ``.gz``), else the content (XML or not). Streams: the file is read once, lazily.
    Raises LogUnreadable or MappingError, on first iteration, when the file cannot be read as a log.
    """
    path = Path(path)
    mapping = mapping or LogMapping()
    source = path.name
    with _open(path) as stream:
        chosen = log_format or detect_format(path, stream)
        reader = read_xes if chosen == "xes" else read_csv
        yield from reader(stream, source, mapping)


def detect_format(path: Path, stream: BinaryIO | None = None) -> LogFormat:
    """ "xes" or "csv" from the file name, else from the first bytes of the (decompressed) stream."""
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    if suffixes and suffixes[-1] == ".xes":
        return "xes"
    if suffixes and suffixes[-1] in CSV_SUFFIXES:
        return "csv"
    if stream is not None and hasattr(stream, "peek"):
        head = stream.peek(64)[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
        if head.startswith(b"<"):
            return "xes"
    return "csv"


def default_service(path: str | Path) -> str:
    """The service name a log's file name suggests: ``exports/helpdesk.xes.gz`` -> ``helpdesk``."""
    name = Path(path).name
    for suffix in (".gz", ".xes", ".csv", ".tsv", ".txt"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return name or "eventlog"


@contextmanager
def _open(path: Path) -> Iterator[BinaryIO]:
    """The file's bytes, decompressed if they start with the gzip magic number."""
    try:
        raw = open(path, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        raise LogUnreadable(f"{path}: no such file") from None
    except IsADirectoryError:
        raise LogUnreadable(f"{path}: is a directory, expected an XES or CSV file") from None
    except OSError as err:
        raise LogUnreadable(f"{path}: cannot open ({err.strerror})") from None
    with raw:
        if raw.peek(2)[:2] == GZIP_MAGIC:
            with gzip.GzipFile(fileobj=raw, mode="rb") as unzipped:
                yield unzipped  # type: ignore[misc]
        else:
            yield raw
