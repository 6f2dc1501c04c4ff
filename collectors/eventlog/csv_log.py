"""Reading a CSV event log (a CRM or ticketing export) into events, one row per event.

Rows are streamed: memory holds one row and a counter per case. The header names the columns; which
column is which comes from `mapping` (see collectors.eventlog.mapping). Columns that are not mapped are
kept as string attributes (empty cells are left out). Line numbers in messages are the physical line a
row starts on, counting the header as line 1.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime
from typing import BinaryIO

from collectors.eventlog.errors import LogUnreadable
from collectors.eventlog.mapping import Column, CsvColumns, resolve_columns
from collectors.eventlog.model import (
    Event,
    LogMapping,
    Malformed,
    transition,
    unknown_transition,
)
from collectors.eventlog.timestamps import not_a_date, parse_timestamp

DELIMITERS = ",;\t|"


def read_csv(stream: BinaryIO, source: str, mapping: LogMapping) -> Iterator[Event | Malformed]:
    """Each data row of the CSV in `stream` as an Event, or as Malformed saying which field is wrong.

    Raises LogUnreadable if the file is empty or not text in `mapping.encoding`, and MappingError if the
    header lacks a required column. Problems after the header are yielded, never raised.
    """
    text = io.TextIOWrapper(stream, encoding=mapping.encoding, newline="")
    try:
        first_line = text.readline()
        text.seek(0)
    except UnicodeDecodeError as err:
        raise LogUnreadable(f"{source}: not {mapping.encoding} text ({err.reason}); use --encoding") from None
    if not first_line.strip():
        raise LogUnreadable(f"{source}: the first line is empty (expected a header row)")
    delimiter = mapping.delimiter or _delimiter_of(first_line)
    rows = csv.reader(text, delimiter=delimiter)
    header = next(rows)
    columns = resolve_columns(header, mapping, source)
    reader = _RowReader(source, mapping, columns, len(header))
    line_end = rows.line_num
    while True:
        line = line_end + 1
        try:
            row = next(rows)
        except StopIteration:
            return
        except UnicodeDecodeError as err:
            yield Malformed(
                source,
                line,
                "encoding",
                f"text is not {mapping.encoding} ({err.reason}); reading stopped here, use --encoding",
            )
            return
        except csv.Error as err:
            line_end = rows.line_num
            yield Malformed(source, line, "row", f"row is not valid CSV ({err})")
            continue
        line_end = rows.line_num
        if row:
            yield reader.read(row, line)


class _RowReader:
    """Turns one row into an Event or Malformed; remembers how many events each case has had."""

    def __init__(self, source: str, mapping: LogMapping, columns: CsvColumns, width: int) -> None:
        self.source = source
        self.mapping = mapping
        self.columns = columns
        self.width = width
        self.case_sizes: dict[str, int] = {}

    def read(self, row: list[str], line: int) -> Event | Malformed:
        if len(row) != self.width:
            return self._bad(line, "row", f"row has {len(row)} fields, the header has {self.width}")
        c = self.columns
        case_id = row[c.case.index].strip()
        if not case_id:
            return self._bad(line, "case id", f"case id is empty (column '{c.case.name}')")
        index = self.case_sizes.get(case_id, 0)
        self.case_sizes[case_id] = index + 1
        activity = row[c.activity.index].strip()
        if not activity:
            return self._bad(line, "activity", f"activity is empty (column '{c.activity.name}')")
        timestamp = self._timestamp(row, c.timestamp, "timestamp", line)
        if isinstance(timestamp, Malformed):
            return timestamp
        start: datetime | None = None
        if c.start_timestamp and row[c.start_timestamp.index].strip():
            started = self._timestamp(row, c.start_timestamp, "start timestamp", line)
            if isinstance(started, Malformed):
                return started
            start = started
            if start > timestamp:
                return self._bad(
                    line,
                    "start timestamp",
                    f"start timestamp '{row[c.start_timestamp.index].strip()}' is after "
                    f"timestamp '{row[c.timestamp.index].strip()}'",
                )
        lifecycle = None
        if c.lifecycle and (raw := row[c.lifecycle.index].strip()):
            lifecycle = transition(raw)
            if lifecycle is None:
                return self._bad(line, "lifecycle", unknown_transition("lifecycle", raw))
        return Event(
            source=self.source,
            line=line,
            case_id=case_id,
            index=index,
            activity=activity,
            timestamp=timestamp,
            lifecycle=lifecycle,
            start=start,
            resource=_cell(row, c.resource),
            channel=_cell(row, c.channel),
            attributes=tuple((x.name, v) for x in c.extra if (v := row[x.index].strip())),
        )

    def _timestamp(self, row: list[str], column: Column, field: str, line: int) -> datetime | Malformed:
        raw = row[column.index].strip()
        if not raw:
            return self._bad(line, field, f"{field} is empty (column '{column.name}')")
        moment = parse_timestamp(raw, self.mapping.time_format, self.mapping.timezone)
        if moment is None:
            return self._bad(line, field, not_a_date(field, raw, self.mapping.time_format, cli_hint=True))
        return moment

    def _bad(self, line: int, field: str, problem: str) -> Malformed:
        return Malformed(self.source, line, field, problem)


def _cell(row: list[str], column: Column | None) -> str | None:
    if column is None:
        return None
    return row[column.index].strip() or None


def _delimiter_of(header_line: str) -> str:
    """The candidate delimiter the header line uses most (a comma if it uses none)."""
    counts = {d: header_line.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","
