"""Query text as it travels: the SQL builders write readable, commented SQL; what is sent is compacted.

The engine parses, and clickhouse-connect tokenizes in Python, every character of a query on every run: for
the live state's journey query (about 9 KB) whole-line comments and indentation cost several milliseconds a
request, and a `;` inside a comment sends clickhouse-connect down a slower path.
"""

from __future__ import annotations


def compact(sql: str) -> str:
    """`sql` without blank lines, whole-line `--` comments and indentation (meaning unchanged: builders bind
    values as parameters, so no string literal spans lines)."""
    kept = (line.strip() for line in sql.splitlines())
    return "\n".join(line for line in kept if line and not line.startswith("--"))
