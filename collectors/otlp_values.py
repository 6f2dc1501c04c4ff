"""OTLP attribute values (AnyValue) in the string form the collector's ClickHouse exporter stores."""

from __future__ import annotations

import base64
import json
import math
from typing import Any


def _float_str(value: float) -> str:
    if math.isfinite(value) and value == int(value) and abs(value) < 1e16:
        return str(int(value))
    return repr(value)


def any_value_str(value: Any) -> str:
    """An AnyValue as the exporter stores it: strings as-is, scalars in decimal, arrays and maps as JSON."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return str(value.int_value)
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind == "double_value":
        return _float_str(value.double_value)
    if kind is None:
        return ""
    return json.dumps(_any_value_json(value), separators=(",", ":"), ensure_ascii=False)


def _any_value_json(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return value.int_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "double_value":
        return value.double_value if math.isfinite(value.double_value) else str(value.double_value)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    if kind == "array_value":
        return [_any_value_json(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _any_value_json(kv.value) for kv in value.kvlist_value.values}
    return None
