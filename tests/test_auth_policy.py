"""The policy table: every request maps to one need, state-changing endpoints are never open to mere readers,
and what no line names is closed to all but admins."""

from __future__ import annotations

import inspect
import re

import pytest

from app.auth.policy import DASH_UPDATE, PUBLIC, RANK, callback_component_ids, decide
from app.auth.roles import Scope


@pytest.mark.parametrize(
    ("method", "path", "need"),
    [
        ("GET", "/", Scope.READ),
        ("GET", "/blueprints/online-order", Scope.READ),
        ("GET", "/_dash-layout", Scope.READ),
        ("GET", "/_dash-component-suites/dash/dcc/async-graph.js", Scope.READ),
        ("GET", "/api/v1/alerts", Scope.READ),
        ("GET", "/api/v1/blueprints/online-order/state", Scope.READ),
        ("GET", "/api/v1/health", PUBLIC),
        ("GET", "/login", PUBLIC),
        ("POST", "/login", PUBLIC),
        ("POST", "/logout", PUBLIC),
        ("POST", "/v1/traces", Scope.INGEST),
        ("POST", "/api/v1/alerts/a1/ack", Scope.OPERATE),
        ("POST", "/api/v1/alerts/a1/note", Scope.OPERATE),
        ("POST", "/api/v1/silences", Scope.OPERATE),
        ("DELETE", "/api/v1/silences/s1", Scope.OPERATE),
        ("PUT", "/api/v1/blueprints/online-order", Scope.EDIT),
        ("POST", "/api/v1/blueprints", Scope.EDIT),
        ("DELETE", "/api/v1/blueprints/online-order", Scope.EDIT),
        ("POST", "/api/v1/blueprints/online-order/versions/3/restore", Scope.EDIT),
        ("POST", "/api/v1/alerts/rules/reload", Scope.EDIT),
    ],
)
def test_each_endpoint_needs_its_scope(method: str, path: str, need: str) -> None:
    assert decide(method, path).need == need


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/something-new"),
        ("PUT", "/api/v1/alerts"),
        ("DELETE", "/api/v1/alerts/a1"),
        ("POST", "/"),
        ("PATCH", "/api/v1/health"),
        ("POST", "//api/v1/silences"),  # not the silences route: merged slashes do not slip through
        ("POST", "/v1/traces/extra"),
    ],
)
def test_change_no_rule_names_is_for_admins_only(method: str, path: str) -> None:
    assert decide(method, path).need == Scope.ADMIN


def test_read_no_rule_names_needs_read() -> None:
    assert decide("GET", "/a/page/nobody/listed").need == Scope.READ


def test_dash_callback_touching_the_editor_needs_edit() -> None:
    callback = {"output_key": "..editor-status.children...editor-preview.figure..", "inputs": [], "state": []}

    assert decide("POST", DASH_UPDATE, callback).need == Scope.EDIT


def test_dash_callback_triggered_by_an_alert_action_needs_operate() -> None:
    callback = {
        "output_key": "alerts-table.data",
        "inputs": [{"id": {"type": "alerts-ack", "index": "ALL"}, "property": "n_clicks"}],
        "state": [],
    }

    assert decide("POST", DASH_UPDATE, callback).need == Scope.OPERATE


def test_dash_callback_that_only_draws_needs_read() -> None:
    callback = {
        "output_key": "overview-map.elements",
        "inputs": [{"id": "overview-refresh", "property": "n_intervals"}],
        "state": [{"id": "overview-window", "property": "value"}],
    }

    assert decide("POST", DASH_UPDATE, callback).need == Scope.READ


def test_pattern_matching_output_ids_are_read_by_type_and_json() -> None:
    callback = {"output_key": '{"index":["ALL"],"type":"editor-step"}.value', "inputs": [], "state": []}

    assert callback_component_ids(callback) == ['{"index": ["ALL"], "type": "editor-step"}', "editor-step"]
    assert decide("POST", DASH_UPDATE, callback).need == Scope.EDIT


# ------------------------------------------------------------------ the real app


@pytest.fixture(scope="module")
def flask_app(dsn: str):  # noqa: ANN201 - the full Flask app (API, receiver, Dash, sign-in) on this module's database
    from app.server import create_app, open_runtime
    from app.settings import Settings

    runtime = open_runtime(Settings(db=dsn, port=0, evaluate_alerts=False), start_hooks=[])
    yield create_app(runtime.ctx)
    runtime.shutdown()


def _routes(app):  # noqa: ANN001, ANN202 - a Flask app; yields (method, sample path)
    for rule in app.url_map.iter_rules():
        sample = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"sample-\1", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            yield method, sample


def test_no_state_changing_route_of_the_running_app_is_open_to_readers(flask_app) -> None:  # noqa: ANN001
    changing = [(m, p) for m, p in _routes(flask_app) if m not in ("GET",)]
    assert ("POST", "/v1/traces") in changing  # the table is checked against the real routes

    for method, path in changing:
        need = decide(method, path).need
        if path in ("/login", "/logout"):
            assert need == PUBLIC
        elif path == DASH_UPDATE:
            continue  # decided per callback, below
        else:
            assert need != PUBLIC and need != Scope.READ, f"{method} {path} is open to readers"


MUTATION_CALLS = re.compile(
    r"\.(act|silence|expire_silence|save|put|delete|restore|insert|command|write)\(|requests\.(post|put|delete)"
)


def test_dash_callbacks_that_change_things_need_more_than_read(flask_app) -> None:  # noqa: ANN001
    """A callback whose code calls something that changes state must touch a protected component id."""
    from dash import _callback

    owner = next(
        h.__self__
        for h in flask_app.before_request_funcs[None]
        if hasattr(getattr(h, "__self__", None), "callback_map")
    )
    callbacks = {**_callback.GLOBAL_CALLBACK_MAP, **owner.callback_map}
    unprotected = []
    for key, entry in callbacks.items():
        function = inspect.unwrap(entry.get("callback")) if entry and entry.get("callback") else None
        if function is None:
            continue
        try:
            source = inspect.getsource(function)
        except (OSError, TypeError):
            continue
        if MUTATION_CALLS.search(source):
            need = decide("POST", DASH_UPDATE, {**entry, "output_key": key}).need
            if RANK.get(need, 0) < RANK[Scope.OPERATE]:  # type: ignore[call-overload]
                unprotected.append(f"{function.__module__}.{function.__name__} ({key})")

    assert unprotected == [], "callbacks that change state but any viewer may run: name their ids in DASH_IDS"
