"""A wire-compatible view of OTLP's trace messages in which attribute lists decode as maps.

OTLP encodes attributes as ``repeated KeyValue {string key = 1; AnyValue value = 2;}``. A protobuf map field
``map<string, bytes>`` has exactly the same encoding, so the very same bytes parse (by upb, from descriptors
derived from opentelemetry-proto's generated ones) into messages whose attributes come out as
``{key: AnyValue bytes}`` — without building a Python wrapper for every KeyValue and AnyValue, which is where
most of the decoding time went. :func:`any_values_to_strings` then turns the AnyValue bytes of a whole batch
into strings at once; anything but a short string value is decoded by opentelemetry-proto's ``AnyValue``.

Built once, on first use, not at import.
"""

from __future__ import annotations

import binascii
import functools
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

_VIEW_PREFIX = "touchpoint.view."
_KEYVALUE = ".opentelemetry.proto.common.v1.KeyValue"
_TYPE_STRING = descriptor_pb2.FieldDescriptorProto.TYPE_STRING
_TYPE_BYTES = descriptor_pb2.FieldDescriptorProto.TYPE_BYTES
_LABEL_OPTIONAL = descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL


def _file_proto(module: Any) -> descriptor_pb2.FileDescriptorProto:
    proto = descriptor_pb2.FileDescriptorProto()
    module.DESCRIPTOR.CopyToProto(proto)
    return proto


def _rename_types(message: descriptor_pb2.DescriptorProto) -> None:
    for f in message.field:
        if f.type_name.startswith(".opentelemetry."):
            f.type_name = "." + _VIEW_PREFIX + f.type_name[1:]
    for nested in message.nested_type:
        _rename_types(nested)


def _attributes_as_maps(package: str, message: descriptor_pb2.DescriptorProto, path: str) -> None:
    for nested in list(message.nested_type):
        _attributes_as_maps(package, nested, f"{path}.{nested.name}")
    for f in message.field:
        if f.type_name == "." + _VIEW_PREFIX + _KEYVALUE[1:] and f.name == "attributes":
            entry = message.nested_type.add()
            entry.name = "AttributesEntry"
            entry.options.map_entry = True
            entry.field.add(name="key", number=1, label=_LABEL_OPTIONAL, type=_TYPE_STRING)
            entry.field.add(name="value", number=2, label=_LABEL_OPTIONAL, type=_TYPE_BYTES)
            f.type_name = f".{package}.{path}.AttributesEntry"


@functools.cache
def view_request_class() -> type:
    """The view class of ExportTraceServiceRequest (same wire format, attributes as map<string, bytes>)."""
    pool = descriptor_pool.DescriptorPool()
    for module in (common_pb2, resource_pb2, trace_pb2, trace_service_pb2):
        proto = _file_proto(module)
        proto.name = "touchpoint_view/" + proto.name
        proto.package = _VIEW_PREFIX + proto.package
        proto.dependency[:] = ["touchpoint_view/" + d for d in proto.dependency]
        del proto.service[:]
        for message in proto.message_type:
            _rename_types(message)
        for message in proto.message_type:
            _attributes_as_maps(proto.package, message, message.name)
        pool.Add(proto)
    name = _VIEW_PREFIX + "opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest"
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(name))


def any_values_to_strings(values: list[bytes], render: Any) -> pa.Array:
    """Turn encoded AnyValue messages into the exporter's string form, vectorised.

    A string value shorter than 128 bytes is the tag 0x0A, a one-byte length and the UTF-8 text: those are
    sliced out in bulk. Every other value is parsed with opentelemetry-proto's AnyValue and rendered by
    `render(any_value) -> str`. Raises UnicodeDecodeError-like pyarrow errors on invalid UTF-8.
    """
    n = len(values)
    if n == 0:
        return pa.array([], pa.string())
    encoded = pa.array(values, pa.binary())
    offsets = np.frombuffer(encoded.buffers()[1], dtype=np.int32, count=n + 1)
    lengths = np.diff(offsets)
    data = encoded.buffers()[2]
    header = np.frombuffer(data.to_pybytes() + b"\0\0" if data is not None else b"\0\0", dtype=np.uint8)
    starts = offsets[:-1]
    first, second = header[starts], header[starts + 1]
    fast = (lengths == 0) | ((first == 0x0A) & (second < 0x80) & (lengths == second.astype(np.int32) + 2))
    # every value without its two-byte header (a fast one is at most 129 bytes long; empty stays empty)
    sliced = pc.binary_slice(encoded, 2, 130)
    if not fast.all():
        # values such as status codes repeat across spans: parse and render each distinct one once
        slow_positions = np.flatnonzero(~fast)
        distinct = pc.dictionary_encode(encoded.take(pa.array(slow_positions)))
        rendered = pa.array([_render(v, render) for v in distinct.dictionary.to_pylist()], pa.binary())
        order = np.arange(n, dtype=np.int64)
        order[slow_positions] = n + distinct.indices.to_numpy()
        sliced = pa.concat_arrays([sliced, rendered]).take(pa.array(order))
    return sliced.cast(pa.string())


def _render(encoded: bytes, render: Any) -> bytes:
    return render(common_pb2.AnyValue.FromString(encoded)).encode()


def hex_ids(ids: list[bytes]) -> pa.Array:
    """Lowercase hex strings of raw ids (empty stays empty), vectorised."""
    n = len(ids)
    raw = pa.array(ids, pa.binary())
    offsets = np.frombuffer(raw.buffers()[1], dtype=np.int32, count=n + 1) * 2
    data = raw.buffers()[2]
    text = binascii.hexlify(memoryview(data)) if data is not None else b""
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets.tobytes()), pa.py_buffer(text))


def hex_fixed(joined: bytes, n: int, width: int) -> pa.Array:
    """Hex strings of `n` ids of `width` bytes each, concatenated in `joined`."""
    offsets = np.arange(0, (n + 1) * width * 2, width * 2, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets.tobytes()), pa.py_buffer(binascii.hexlify(joined)))
