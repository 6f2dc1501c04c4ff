"""`touchpoint blueprint validate` and `touchpoint blueprint show`, run through the real command line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from app.cli import main

FIXTURES = Path(__file__).parent / "fixtures" / "blueprints"


@pytest.fixture
def maps(tmp_path: Path) -> Path:
    folder = tmp_path / "maps"
    folder.mkdir()
    shutil.copy(FIXTURES / "checkout.good.yaml", folder / "checkout.yaml")
    shutil.copy(FIXTURES / "minimal.good.yaml", folder / "minimal.yaml")
    return folder


def test_validate_prints_ok_with_the_count_when_every_blueprint_is_valid(
    maps: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["blueprint", "validate", str(maps)])

    assert (code, capsys.readouterr().out) == (0, "ok: 2 blueprints\n")


def test_validate_prints_each_problem_on_its_own_line_and_exits_1(
    maps: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = maps / "checkout.yaml"
    broken.write_text(
        broken.read_text()
        .replace("lane: backstage", "lane: backstag")
        .replace("actor: process", "actor: bot")
    )

    code = main(["blueprint", "validate", str(maps / "minimal.yaml"), str(broken)])

    captured = capsys.readouterr()
    assert code == 1
    assert captured.out.splitlines() == [
        f"{broken}:56:5 steps[2].lane 'backstag' is not one of evidence, customer, frontstage, backstage, "
        "support",
        f"{broken}:66:5 steps[3].actor 'bot' is not one of person, process, system",
    ]
    assert captured.err == "2 problems (1 of 2 blueprints invalid)\n"


def test_validate_reports_a_path_that_does_not_exist(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["blueprint", "validate", str(tmp_path / "nowhere")])

    assert code == 1
    assert (
        capsys.readouterr().out
        == f"{tmp_path / 'nowhere'} does not exist: expected a blueprint file or a directory\n"
    )


def test_show_outlines_a_blueprint(maps: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["blueprint", "show", "checkout", "--blueprints", str(maps)])

    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("checkout: Checkout (owner shop-team)\n")
    assert "  frontstage checkout-page: Checkout page @web-shop\n" in out
    assert "objectives availability 99.5%, p95 <= 800 ms, wait <= 5m\n" in out
    assert "  charge -> confirmation | payment-failed\n" in out
    assert "  fraud-check -> checkout-page\n" in out


def test_show_json_prints_the_model(maps: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["blueprint", "show", "checkout", "--blueprints", str(maps), "--json"])

    assert json.loads(capsys.readouterr().out)["correlation"] == {"key": "journey.id", "timeout": "1h30m"}


def test_show_yaml_prints_the_file_as_it_is(maps: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["blueprint", "show", "minimal", "--blueprints", str(maps), "--yaml"])

    assert capsys.readouterr().out == (maps / "minimal.yaml").read_text()


def test_show_of_an_unknown_id_names_the_known_ones(maps: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["blueprint", "show", "refunds", "--blueprints", str(maps)])

    assert code == 1
    assert capsys.readouterr().err == (
        f"touchpoint blueprint show: no blueprint 'refunds' in {maps} (known: checkout, minimal)\n"
    )
