"""The blueprint API over real HTTP: a Flask app with the /api/v1 routes, served by waitress on 127.0.0.1."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import flask
import pytest
import requests
import waitress

from app.api.blueprints import register
from blueprints.store import BlueprintStore, etag_of
from blueprints.versions import VERSIONS_TABLE, VersionLog, ensure_schema

FIXTURES = Path(__file__).parent / "fixtures" / "blueprints"
CHECKOUT = (FIXTURES / "checkout.good.yaml").read_text()
MINIMAL = (FIXTURES / "minimal.good.yaml").read_text()
YAML = {"Content-Type": "application/yaml"}


@pytest.fixture(scope="module")
def server(ch, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:  # noqa: ANN001
    """(base URL, blueprint directory) of a server whose directory and history each test resets."""
    ensure_schema(ch)
    directory = tmp_path_factory.mktemp("maps")
    store = BlueprintStore(directory, VersionLog(ch))
    app = flask.Flask("test")
    bp = flask.Blueprint("api", __name__, url_prefix="/api/v1")
    register(bp, store)
    app.register_blueprint(bp)
    http = waitress.create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=http.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{http.effective_port}/api/v1", directory
    http.close()
    http.task_dispatcher.shutdown()
    thread.join(timeout=10)


@pytest.fixture
def api(server: tuple[str, Path], ch) -> str:  # noqa: ANN001
    url, directory = server
    for path in directory.iterdir():
        path.unlink()
    requests.get(f"{url}/blueprints", timeout=10)  # let the store see the directory emptied
    ch.command(f"TRUNCATE TABLE {VERSIONS_TABLE}")
    (directory / "checkout.yaml").write_text(CHECKOUT)
    return url


def _etag(reply: requests.Response) -> str:
    return reply.headers["ETag"]


def test_list_names_each_blueprint_with_its_validity_and_errors(api: str, server: tuple[str, Path]) -> None:
    (server[1] / "broken.yaml").write_text(
        "id: broken\nname: Broken\nstages: [{id: s}]\nsteps: [{id: a, stage: s}]\n"
    )

    reply = requests.get(f"{api}/blueprints", timeout=10)

    assert reply.status_code == 200
    listed = {b["id"]: b for b in reply.json()["blueprints"]}
    assert (listed["checkout"]["name"], listed["checkout"]["owner"], listed["checkout"]["valid"]) == (
        "Checkout",
        "shop-team",
        True,
    )
    assert listed["broken"]["valid"] is False
    assert [e["text"] for e in listed["broken"]["errors"]] == ["broken.yaml:4:9 steps[0].lane is missing"]


def test_get_returns_model_yaml_and_etag(api: str) -> None:
    reply = requests.get(f"{api}/blueprints/checkout", timeout=10)

    assert reply.status_code == 200
    assert _etag(reply) == f'"{etag_of(CHECKOUT)}"'
    body = reply.json()
    assert body["yaml"] == CHECKOUT
    assert body["blueprint"]["steps"][0]["id"] == "basket"


def test_get_with_the_current_etag_in_if_none_match_is_not_modified(api: str) -> None:
    etag = _etag(requests.get(f"{api}/blueprints/checkout", timeout=10))

    reply = requests.get(f"{api}/blueprints/checkout", headers={"If-None-Match": etag}, timeout=10)

    assert reply.status_code == 304


def test_unknown_blueprint_is_404_in_json(api: str) -> None:
    reply = requests.get(f"{api}/blueprints/nope", timeout=10)

    assert (reply.status_code, reply.json()) == (404, {"error": "no blueprint 'nope'", "details": []})


def test_put_without_if_match_is_428_and_writes_nothing(api: str, server: tuple[str, Path]) -> None:
    reply = requests.put(
        f"{api}/blueprints/checkout", data=CHECKOUT.replace("Checkout", "X"), headers=YAML, timeout=10
    )

    assert reply.status_code == 428
    assert reply.json()["error"].startswith("If-Match is required")
    assert (server[1] / "checkout.yaml").read_text() == CHECKOUT


def test_put_with_the_current_etag_saves_and_records_the_author(api: str) -> None:
    etag = _etag(requests.get(f"{api}/blueprints/checkout", timeout=10))
    changed = CHECKOUT.replace("name: Checkout", "name: Pay", 1)

    reply = requests.put(
        f"{api}/blueprints/checkout",
        data=changed,
        headers={**YAML, "If-Match": etag, "X-Touchpoint-User": "ann", "X-Touchpoint-Message": "shorter"},
        timeout=10,
    )

    assert reply.status_code == 200
    assert _etag(reply) == f'"{etag_of(changed)}"'
    latest = requests.get(f"{api}/blueprints/checkout/versions", timeout=10).json()["versions"][0]
    assert (latest["number"], latest["author"], latest["message"]) == (2, "ann", "shorter")


def test_put_with_a_stale_etag_is_409_with_the_current_etag(api: str) -> None:
    stale = _etag(requests.get(f"{api}/blueprints/checkout", timeout=10))
    first = CHECKOUT.replace("owner: shop-team", "owner: ann", 1)
    requests.put(f"{api}/blueprints/checkout", data=first, headers={**YAML, "If-Match": stale}, timeout=10)

    reply = requests.put(
        f"{api}/blueprints/checkout",
        data=CHECKOUT.replace("owner: shop-team", "owner: bob", 1),
        headers={**YAML, "If-Match": stale},
        timeout=10,
    )

    assert reply.status_code == 409
    assert _etag(reply) == f'"{etag_of(first)}"'
    assert reply.json()["current_etag"] == etag_of(first)
    assert "owner: ann" in requests.get(f"{api}/blueprints/checkout", timeout=10).json()["yaml"]


def test_put_of_invalid_yaml_is_422_with_positioned_details_and_writes_nothing(
    api: str, server: tuple[str, Path]
) -> None:
    etag = _etag(requests.get(f"{api}/blueprints/checkout", timeout=10))
    broken = CHECKOUT.replace("lane: backstage", "lane: backstag", 1).replace(
        "stage: confirm\n", "stage: confrm\n", 1
    )

    reply = requests.put(
        f"{api}/blueprints/checkout", data=broken, headers={**YAML, "If-Match": etag}, timeout=10
    )

    assert reply.status_code == 422
    body = reply.json()
    assert body["error"] == "checkout.yaml is not a valid blueprint (2 problems); nothing was written"
    assert [(d["line"], d["column"], d["field"], d["value"]) for d in body["details"]] == [
        (56, 5, "steps[2].lane", "backstag"),
        (73, 5, "steps[4].stage", "confrm"),
    ]
    assert (server[1] / "checkout.yaml").read_text() == CHECKOUT


def test_put_of_a_json_model_edits_the_file_in_place(api: str, server: tuple[str, Path]) -> None:
    got = requests.get(f"{api}/blueprints/checkout", timeout=10)
    model = got.json()["blueprint"]
    model["owner"] = "payments-team"

    reply = requests.put(
        f"{api}/blueprints/checkout", json=model, headers={"If-Match": _etag(got)}, timeout=10
    )

    assert reply.status_code == 200
    text = (server[1] / "checkout.yaml").read_text()
    assert text == CHECKOUT.replace("owner: shop-team", "owner: payments-team", 1)


def test_put_of_an_invalid_json_model_names_fields_without_positions(api: str) -> None:
    got = requests.get(f"{api}/blueprints/checkout", timeout=10)
    model = got.json()["blueprint"]
    model["steps"][0]["lane"] = "top"

    reply = requests.put(
        f"{api}/blueprints/checkout", json=model, headers={"If-Match": _etag(got)}, timeout=10
    )

    assert reply.status_code == 422
    assert [d["text"] for d in reply.json()["details"]] == [
        "checkout.yaml steps[0].lane 'top' is not one of evidence, customer, frontstage, backstage, support"
    ]


def test_put_with_if_none_match_star_creates_once(api: str) -> None:
    create = {**YAML, "If-None-Match": "*"}

    first = requests.put(f"{api}/blueprints/minimal", data=MINIMAL, headers=create, timeout=10)
    second = requests.put(f"{api}/blueprints/minimal", data=MINIMAL, headers=create, timeout=10)

    assert (first.status_code, second.status_code) == (201, 409)


def test_post_creates_a_blueprint_named_by_its_id(api: str) -> None:
    reply = requests.post(f"{api}/blueprints", data=MINIMAL, headers=YAML, timeout=10)

    assert reply.status_code == 201
    assert reply.headers["Location"] == "/api/v1/blueprints/minimal"


def test_an_unknown_body_type_is_415(api: str) -> None:
    etag = _etag(requests.get(f"{api}/blueprints/checkout", timeout=10))

    reply = requests.put(
        f"{api}/blueprints/checkout",
        data=CHECKOUT,
        headers={"If-Match": etag, "Content-Type": "text/csv"},
        timeout=10,
    )

    assert reply.status_code == 415


def test_delete_needs_if_match_and_then_the_blueprint_is_gone(api: str) -> None:
    etag = _etag(requests.get(f"{api}/blueprints/checkout", timeout=10))

    refused = requests.delete(f"{api}/blueprints/checkout", timeout=10)
    deleted = requests.delete(f"{api}/blueprints/checkout", headers={"If-Match": etag}, timeout=10)

    assert (refused.status_code, deleted.status_code) == (428, 204)
    assert requests.get(f"{api}/blueprints/checkout", timeout=10).status_code == 404


def test_versions_show_content_and_diff_and_restore_brings_one_back(api: str) -> None:
    etag = _etag(requests.get(f"{api}/blueprints/checkout", timeout=10))
    requests.put(
        f"{api}/blueprints/checkout",
        data=CHECKOUT.replace("name: Checkout", "name: Pay", 1),
        headers={**YAML, "If-Match": etag, "X-Touchpoint-User": "ann"},
        timeout=10,
    )

    version = requests.get(f"{api}/blueprints/checkout/versions/2", timeout=10).json()
    restored = requests.post(
        f"{api}/blueprints/checkout/versions/1/restore", headers={"X-Touchpoint-User": "bob"}, timeout=10
    )

    assert "-name: Checkout\n+name: Pay\n" in version["diff"]
    assert restored.status_code == 200 and restored.json()["yaml"] == CHECKOUT
    history = requests.get(f"{api}/blueprints/checkout/versions", timeout=10).json()["versions"]
    assert [(v["number"], v["author"]) for v in history] == [(3, "bob"), (2, "ann"), (1, "external")]


@pytest.mark.parametrize("number", ["9", "0", "x"])
def test_an_unknown_version_is_404(api: str, number: str) -> None:
    reply = requests.get(f"{api}/blueprints/checkout/versions/{number}", timeout=10)

    assert reply.status_code == 404
    assert reply.json()["error"].startswith("blueprint 'checkout' has no")
