"""The blueprint directory as a store: optimistic concurrency, atomic writes, in-place edits that keep
comments, external changes picked up and recorded, invalid files listed beside valid ones."""

from __future__ import annotations

import difflib
import os
import shutil
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from blueprints.errors import BlueprintNotFound, Conflict, InvalidBlueprint
from blueprints.loader import parse_blueprint
from blueprints.model import Blueprint
from blueprints.store import BlueprintStore, etag_of
from blueprints.versions import VERSIONS_TABLE, VersionLog, ensure_schema

FIXTURES = Path(__file__).parent / "fixtures" / "blueprints"
CHECKOUT = (FIXTURES / "checkout.good.yaml").read_text()
MINIMAL = (FIXTURES / "minimal.good.yaml").read_text()
NOW = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def versions(ch) -> VersionLog:  # noqa: ANN001 - the conftest's clickhouse-connect client
    ensure_schema(ch)
    ch.command(f"TRUNCATE TABLE {VERSIONS_TABLE}")
    return VersionLog(ch)


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    folder = tmp_path / "maps"
    folder.mkdir()
    (folder / "checkout.yaml").write_text(CHECKOUT)
    return folder


@pytest.fixture
def store(directory: Path, versions: VersionLog) -> BlueprintStore:
    return BlueprintStore(directory, versions, clock=lambda: NOW)


def _edit(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


def test_get_gives_the_model_the_text_and_a_content_hash_etag(store: BlueprintStore) -> None:
    entry = store.get("checkout")

    assert entry.text == CHECKOUT
    assert entry.etag == etag_of(CHECKOUT)
    assert entry.blueprint is not None and entry.blueprint.name == "Checkout"


def test_unknown_blueprint_is_not_found(store: BlueprintStore) -> None:
    with pytest.raises(BlueprintNotFound, match="no blueprint 'nope'"):
        store.get("nope")


def test_files_found_at_start_are_recorded_once_as_external_versions(
    directory: Path, versions: VersionLog
) -> None:
    BlueprintStore(directory, versions, clock=lambda: NOW).list()
    BlueprintStore(directory, versions, clock=lambda: NOW).list()  # a restart records nothing new

    assert [(v.number, v.author) for v in versions.history("checkout")] == [(1, "external")]


def test_save_with_the_current_etag_writes_and_records_a_version(
    store: BlueprintStore, directory: Path, versions: VersionLog
) -> None:
    etag = store.get("checkout").etag
    changed = _edit(CHECKOUT, "name: Checkout", "name: Pay for a basket")

    saved = store.save("checkout", changed, author="ann", message="rename", if_match=etag)

    assert (directory / "checkout.yaml").read_text() == changed
    assert saved.etag == etag_of(changed) != etag
    latest = versions.history("checkout")[0]
    assert (latest.number, latest.author, latest.message) == (2, "ann", "rename")


def test_save_with_a_stale_etag_is_a_conflict_carrying_the_current_etag(
    store: BlueprintStore, directory: Path
) -> None:
    stale = store.get("checkout").etag
    store.save("checkout", _edit(CHECKOUT, "owner: shop-team", "owner: ann"), author="ann", if_match=stale)
    current = store.get("checkout")

    with pytest.raises(Conflict) as caught:
        store.save(
            "checkout", _edit(CHECKOUT, "owner: shop-team", "owner: bob"), author="bob", if_match=stale
        )

    assert caught.value.current_etag == current.etag
    assert (directory / "checkout.yaml").read_text() == current.text


def test_if_match_any_needs_an_existing_blueprint_and_if_absent_needs_none(store: BlueprintStore) -> None:
    with pytest.raises(Conflict, match="does not exist"):
        store.save("minimal", MINIMAL, author="ann", if_match="*")
    with pytest.raises(Conflict, match="already exists"):
        store.save("checkout", CHECKOUT, author="ann", if_absent=True)


def test_invalid_content_writes_nothing_and_records_nothing(
    store: BlueprintStore, directory: Path, versions: VersionLog
) -> None:
    etag = store.get("checkout").etag

    with pytest.raises(InvalidBlueprint) as caught:
        store.save(
            "checkout", _edit(CHECKOUT, "lane: backstage", "lane: backstag"), author="ann", if_match=etag
        )

    assert str(caught.value.problems[0]).startswith("checkout.yaml:56:5 steps[2].lane 'backstag'")
    assert (directory / "checkout.yaml").read_text() == CHECKOUT
    assert len(versions.history("checkout")) == 1


def test_saving_the_same_text_changes_nothing(store: BlueprintStore, versions: VersionLog) -> None:
    entry = store.get("checkout")

    again = store.save("checkout", CHECKOUT, author="ann", if_match=entry.etag)

    assert again == entry
    assert len(versions.history("checkout")) == 1


def test_a_model_edit_changes_only_the_lines_it_must_and_keeps_comments(
    store: BlueprintStore, directory: Path
) -> None:
    entry = store.get("checkout")
    document = entry.require().to_document()
    document["steps"][1]["objectives"]["availability"] = 0.99

    store.save("checkout", Blueprint.model_validate(document), author="ann", if_match=entry.etag)

    after = (directory / "checkout.yaml").read_text()
    changed = [
        line for line in difflib.unified_diff(CHECKOUT.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]  # fmt: skip
    assert changed == ["-      availability: 0.995", "+      availability: 0.99"]
    assert "# glob" in after and after.startswith("# A small but complete blueprint")


def test_a_model_edit_adds_and_removes_steps_leaving_the_others_as_written(
    store: BlueprintStore, directory: Path
) -> None:
    entry = store.get("checkout")
    document = entry.require().to_document()
    document["steps"] = [s for s in document["steps"] if s["id"] != "fraud-check"]
    document["steps"].insert(
        1, {"id": "coupon", "name": "Apply a coupon", "lane": "customer", "stage": "pay"}
    )
    document["flows"] = [f for f in document["flows"] if "fraud-check" not in (f["from"], f["to"])]
    document["flows"].append({"from": "checkout-page", "to": "charge"})
    model = Blueprint.model_validate(document)

    saved = store.save("checkout", model, author="ann", if_match=entry.etag)

    after = (directory / "checkout.yaml").read_text()
    assert parse_blueprint(after, "checkout.yaml", "checkout") == model == saved.blueprint
    assert "fraud-check" not in after
    assert "  - id: coupon\n    name: Apply a coupon\n    lane: customer\n    stage: pay\n" in after
    assert "      span: 're:^POST /charges(/\\d+)?$'  # regex\n" in after


def test_a_model_for_another_id_is_refused(store: BlueprintStore) -> None:
    model = parse_blueprint(MINIMAL, "minimal.yaml", "minimal")

    with pytest.raises(InvalidBlueprint, match="id 'minimal' does not match the blueprint being saved"):
        store.save("checkout", model, author="ann")


def test_ids_that_are_not_blueprint_ids_never_become_paths(store: BlueprintStore, tmp_path: Path) -> None:
    with pytest.raises(InvalidBlueprint, match="is not a valid blueprint id"):
        store.save("../escape", MINIMAL, author="ann")

    assert not (tmp_path / "escape.yaml").exists()


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(
    store: BlueprintStore, directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    etag = store.get("checkout").etag

    def crash(src: str, dst: str) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk gone"):
        store.save("checkout", _edit(CHECKOUT, "name: Checkout", "name: X"), author="ann", if_match=etag)

    assert sorted(p.name for p in directory.iterdir()) == ["checkout.yaml"]
    assert (directory / "checkout.yaml").read_text() == CHECKOUT


def test_a_change_made_outside_is_seen_at_once_and_recorded_as_external(
    store: BlueprintStore, directory: Path, versions: VersionLog
) -> None:
    store.list()
    pulled = _edit(CHECKOUT, "owner: shop-team", "owner: payments-team")
    (directory / "checkout.yaml").write_text(pulled)

    entry = store.get("checkout")

    assert entry.text == pulled and entry.blueprint is not None and entry.blueprint.owner == "payments-team"
    latest = versions.history("checkout")[0]
    assert (latest.number, latest.author, latest.message) == (2, "external", "changed outside Touchpoint")


def test_files_added_and_removed_outside_are_listed_and_recorded(
    store: BlueprintStore, directory: Path, versions: VersionLog
) -> None:
    store.list()
    (directory / "minimal.yaml").write_text(MINIMAL)
    assert [e.id for e in store.list()] == ["checkout", "minimal"]

    (directory / "minimal.yaml").unlink()

    assert [e.id for e in store.list()] == ["checkout"]
    assert [(v.number, v.deleted) for v in versions.history("minimal")] == [(2, True), (1, False)]


def test_an_invalid_file_is_listed_with_its_problems_and_does_not_hide_the_others(
    store: BlueprintStore, directory: Path
) -> None:
    shutil.copy(FIXTURES / "checkout.bad-lane.yaml", directory / "broken.yaml")
    (directory / "broken.yaml").write_text(
        (directory / "broken.yaml").read_text().replace("id: checkout", "id: broken")
    )

    entries = {e.id: e for e in store.list()}

    assert entries["checkout"].valid
    assert not entries["broken"].valid
    assert [str(p) for p in entries["broken"].problems] == [
        "broken.yaml:10:5 steps[1].lane 'backstag' is not one of evidence, customer, frontstage, backstage, "
        "support"
    ]
    assert [b.id for b in store.blueprints()] == ["checkout"]


def test_an_invalid_file_can_be_fixed_by_saving_over_it(store: BlueprintStore, directory: Path) -> None:
    (directory / "minimal.yaml").write_text("id: minimal\nname: [\n")
    broken = store.get("minimal")

    fixed = store.save("minimal", MINIMAL, author="ann", if_match=broken.etag)

    assert fixed.valid and not broken.valid


def test_delete_keeps_the_history_and_restore_brings_a_version_back(
    store: BlueprintStore, directory: Path, versions: VersionLog
) -> None:
    etag = store.get("checkout").etag

    store.delete("checkout", author="ann", if_match=etag)
    assert not (directory / "checkout.yaml").exists()
    restored = store.restore("checkout", 1, author="bob")

    assert restored.text == CHECKOUT
    assert [(v.number, v.author, v.message) for v in versions.history("checkout")] == [
        (3, "bob", "restore version 1"),
        (2, "ann", "deleted"),
        (1, "external", "changed outside Touchpoint"),
    ]


def test_a_deletion_cannot_be_restored(store: BlueprintStore) -> None:
    store.delete("checkout", author="ann")

    with pytest.raises(InvalidBlueprint, match="version 2 records a deletion"):
        store.restore("checkout", 2, author="ann")


def test_of_concurrent_saves_from_the_same_etag_exactly_one_wins(
    store: BlueprintStore, directory: Path, versions: VersionLog
) -> None:
    etag = store.get("checkout").etag
    outcomes: dict[int, str] = {}
    barrier = threading.Barrier(8)

    def save(n: int) -> None:
        barrier.wait()
        try:
            store.save(
                "checkout",
                _edit(CHECKOUT, "owner: shop-team", f"owner: team-{n}"),
                author=f"u{n}",
                if_match=etag,
            )
            outcomes[n] = "saved"
        except Conflict:
            outcomes[n] = "conflict"

    threads = [threading.Thread(target=save, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    winners = [n for n, outcome in outcomes.items() if outcome == "saved"]
    assert len(winners) == 1 and len(outcomes) == 8
    assert f"owner: team-{winners[0]}" in (directory / "checkout.yaml").read_text()
    assert len(versions.history("checkout")) == 2


def test_a_store_without_history_still_reads_and_writes(directory: Path) -> None:
    store = BlueprintStore(directory)

    saved = store.save("minimal", MINIMAL, author="ann", if_absent=True)

    assert [e.id for e in store.list()] == ["checkout", "minimal"] and saved.valid
