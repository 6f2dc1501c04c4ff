"""`touchpoint demo`: realistic customer journeys played as OpenTelemetry spans, with injected faults.

The Python API, for benchmarks and tests that want the same journeys in-process::

    from app.demo import DemoConfig, FaultSpec, simulate
    config = DemoConfig(start=now - timedelta(hours=1), duration=timedelta(hours=1), rate=1.0, seed=7,
                        faults=(FaultSpec.parse("failure:online-order/payment@+20m/10m=0.8"),))
    result = simulate(config, lambda: my_span_exporter)

`generate(config)` yields the same spans as plain `SpanRecord`s without any SDK. Names are
imported lazily, so `import app.demo` stays cheap for the CLI.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.demo.errors import DemoError, FaultSyntaxError, FaultTargetError, ServerUnreachable
    from app.demo.export import CountingExporter, ExporterFactory, SdkSpanSink
    from app.demo.faults import FaultKind, FaultSpec, FaultWindow
    from app.demo.otlp import check_server, otlp_exporter_factory
    from app.demo.runner import DemoConfig, DemoResult, generate, play, simulate
    from app.demo.scenarios import SCENARIOS
    from app.demo.spans import SpanRecord
    from app.demo.truth import TruthRecord, read_truth

_EXPORTS = {
    "DemoError": "app.demo.errors",
    "FaultSyntaxError": "app.demo.errors",
    "FaultTargetError": "app.demo.errors",
    "ServerUnreachable": "app.demo.errors",
    "CountingExporter": "app.demo.export",
    "ExporterFactory": "app.demo.export",
    "SdkSpanSink": "app.demo.export",
    "FaultKind": "app.demo.faults",
    "FaultSpec": "app.demo.faults",
    "FaultWindow": "app.demo.faults",
    "check_server": "app.demo.otlp",
    "otlp_exporter_factory": "app.demo.otlp",
    "SCENARIOS": "app.demo.scenarios",
    "DemoConfig": "app.demo.runner",
    "DemoResult": "app.demo.runner",
    "generate": "app.demo.runner",
    "play": "app.demo.runner",
    "simulate": "app.demo.runner",
    "SpanRecord": "app.demo.spans",
    "TruthRecord": "app.demo.truth",
    "read_truth": "app.demo.truth",
}

__all__ = [
    "CountingExporter",
    "DemoConfig",
    "DemoError",
    "DemoResult",
    "ExporterFactory",
    "FaultKind",
    "FaultSpec",
    "FaultSyntaxError",
    "FaultTargetError",
    "FaultWindow",
    "SCENARIOS",
    "SdkSpanSink",
    "ServerUnreachable",
    "SpanRecord",
    "TruthRecord",
    "check_server",
    "generate",
    "otlp_exporter_factory",
    "play",
    "read_truth",
    "simulate",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'app.demo' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
