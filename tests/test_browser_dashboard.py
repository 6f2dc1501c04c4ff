"""The dashboard in a real headless Chromium at 1366x768, against a full server with demo traffic: every page
loads with steps, health and numbers; the blueprint's view lives in its URL; a step drills down to a journey;
an alert is acknowledged; a blueprint is edited, saved and reloaded; a server without spans says how to start.

Needs /usr/bin/chromium and /usr/bin/chromedriver (Debian's chromium and chromium-driver); skipped without.
Screenshots land in artifacts/screenshots/.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_site import CHROMEDRIVER, CHROMIUM, chromium, screenshot, start_site, wait_until, watch_page

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
        reason="needs /usr/bin/chromium and /usr/bin/chromedriver (apt-get install chromium chromium-driver)",
    ),
]


@pytest.fixture(scope="module")
def site(dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    running = start_site(dsn, tmp_path_factory.mktemp("site"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    driver = chromium(tmp_path_factory.mktemp("chromium-profile"))
    yield driver
    driver.quit()


def open_page(browser: Any, site: Any, path: str, ready_css: str, seconds: float = 40) -> None:
    browser.get(site.url + path)
    wait_until(lambda: browser.find_elements("css selector", ready_css), seconds)


def text(browser: Any, element_id: str) -> str:
    return str(
        browser.execute_script(
            f"var e = document.getElementById('{element_id}'); return e ? e.textContent : '';"
        )
    )


def shows(css: str) -> str:
    """A condition for `watch_page`: an element matches `css`."""
    return f"document.querySelector({json.dumps(css)})"


def says(element_id: str, words: str) -> str:
    """A condition for `watch_page`: the element `element_id` shows `words`."""
    return f"(document.getElementById({json.dumps(element_id)}) || {{}}).textContent.includes({json.dumps(words)})"


def fits_the_window(browser: Any) -> bool:
    return bool(
        browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1")
    )


def test_overview_shows_every_journey_its_score_and_the_channels(site: Any, browser: Any) -> None:
    open_page(browser, site, "/", "#overview-card-online-order .js-plotly-plot")

    cards = text(browser, "overview-journeys")
    for name in ("Online order", "Store visit", "Support line"):
        assert name in cards
    assert "/100" in cards and "objectives met" in cards and "open alert" in cards
    assert any(word in cards for word in ("✓ OK", "▲ WARN", "✖ CRITICAL"))
    assert "Web" in text(browser, "overview-channel-web") and "Phone" in text(
        browser, "overview-channel-phone"
    )
    assert fits_the_window(browser)
    screenshot(browser, "overview")


def test_the_live_blueprint_draws_steps_with_health_and_figures(site: Any, browser: Any) -> None:
    open_page(browser, site, "/blueprint?bp=online-order&range=1h", "#blueprint-graph .annotation-text-g")
    wait_until(lambda: "Authorise the payment" in text(browser, "blueprint-graph"), 30)

    drawn = text(browser, "blueprint-graph")
    assert "Search products" in drawn and "Pick the order in the…" in drawn
    assert "✖ CRITICAL" in drawn  # payments fail for the last ten minutes
    assert "/min" in drawn and "p95" in drawn and "wait" in drawn
    assert "line of" in drawn and "visibility" in drawn
    assert "journeys" in text(browser, "blueprint-summary").lower()
    assert "live" in text(browser, "blueprint-status")
    assert fits_the_window(browser)
    screenshot(browser, "blueprint")


def test_the_blueprint_shows_its_figures_in_numbers_before_the_swimlane_is_drawn(site: Any, browser: Any) -> None:
    shown = watch_page(
        browser,
        site.url + "/blueprint?bp=online-order&range=1h",
        {"kpis": shows("#blueprint-summary .tp-kpi"), "swimlane": shows("#blueprint-graph .annotation-text-g")},
    )

    assert shown["kpis"]["frame"] < shown["swimlane"]["frame"], shown


def test_of_figures_waiting_for_a_paint_only_the_latest_is_drawn(site: Any, browser: Any) -> None:
    """A hidden tab paints nothing while its refreshes go on: once shown, one swimlane is drawn, not one per
    refresh it missed."""
    open_page(browser, site, "/blueprint?bp=online-order&range=1h", "#blueprint-summary .tp-kpi")

    handed_on = browser.execute_async_script(
        """
        var done = arguments[arguments.length - 1];
        var after_paint = window.dash_clientside.after_paint;
        Promise.all([after_paint("first"), after_paint("second"), after_paint("third")]).then(function (values) {
          done(values.map(function (v) { return v === window.dash_clientside.no_update ? "held back" : v; }));
        });
        """
    )

    assert handed_on == ["held back", "held back", "third"]


def test_clicking_a_step_shows_its_figures_and_puts_it_in_the_url(site: Any, browser: Any) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    open_page(browser, site, "/blueprint?bp=online-order&range=1h", "#blueprint-graph .scatterlayer .point")
    points = browser.find_elements("css selector", "#blueprint-graph .scatterlayer .point")
    ActionChains(browser).move_to_element(points[4]).click().perform()  # the fifth step: payment

    wait_until(lambda: "Drill down" in text(browser, "blueprint-detail"), 20)
    assert "Authorise the payment" in text(browser, "blueprint-detail")
    assert "availability" in text(browser, "blueprint-detail")
    wait_until(lambda: "step=payment" in browser.current_url, 10)
    screenshot(browser, "blueprint-step")


def test_a_copied_link_reproduces_range_window_and_selection(site: Any, browser: Any) -> None:
    open_page(
        browser,
        site,
        "/blueprint?bp=online-order&range=15m&step=checkout&paused=true",
        "#blueprint-detail h2",
    )

    wait_until(lambda: "Place the order" in text(browser, "blueprint-detail"), 20)
    assert browser.find_element("css selector", "#blueprint-range input[value='15m']").is_selected()
    assert "paused" in text(browser, "blueprint-status")


def test_playback_replays_past_windows_and_writes_the_window_end_into_the_url(
    site: Any, browser: Any
) -> None:
    open_page(browser, site, "/blueprint?bp=online-order&range=15m", "#blueprint-graph .annotation-text-g")
    browser.find_element("id", "blueprint-play").click()

    wait_until(lambda: "end=" in browser.current_url, 20)
    wait_until(lambda: "replay" in text(browser, "blueprint-status"), 20)
    assert "replay" in text(browser, "blueprint-window")
    browser.find_element("id", "blueprint-play").click()  # stop


def test_a_step_drills_down_to_its_errors_and_to_one_failed_journey(site: Any, browser: Any) -> None:
    open_page(browser, site, "/step?bp=online-order&step=payment&range=1h", "#step-errors-table", 60)

    assert "4" == str(
        browser.execute_script("return document.querySelectorAll('#step-trends .js-plotly-plot').length")
    )
    assert "spans" in text(browser, "step-errors-table").lower()
    assert "%" in text(browser, "step-trends") and "objective" in text(browser, "step-trends")
    screenshot(browser, "step")
    browser.find_element("css selector", "#step-failed-table a").click()

    wait_until(lambda: browser.find_elements("css selector", "#journey-waterfall .main-svg"), 40)
    figures = text(browser, "journey-figures")
    assert "lead time" in figures.lower() and "failed spans" in figures.lower()
    drawn = text(browser, "journey-waterfall")
    assert "Person" in drawn and "System" in drawn and "✖ Failed" in drawn
    screenshot(browser, "journey")


def test_an_alert_is_acknowledged_from_its_page(site: Any, browser: Any) -> None:
    open_page(browser, site, "/alerts", "#alerts-groups a")
    link = next(a for a in browser.find_elements("css selector", "#alerts-groups a") if "payment" in a.text)
    link.click()
    wait_until(lambda: browser.find_elements("id", "alerts-action-ack"), 30)
    alert_id = browser.current_url.split("alert=")[1].split("&")[0]
    wait_until(lambda: browser.find_elements("css selector", "#alerts-detail-body .js-plotly-plot"), 30)
    screenshot(browser, "alerts")

    browser.find_element("id", "alerts-action-ack").click()

    wait_until(lambda: "Acknowledged." in text(browser, "alerts-action-result"), 20)
    book = site.runtime.ctx.parts["alerts"].book
    assert str(book.store.alert(alert_id).state) == "acknowledged"
    wait_until(lambda: "acknowledged by local" in text(browser, "alerts-history"), 20)


def test_a_blueprint_is_edited_saved_and_reloaded(site: Any, browser: Any) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    open_page(browser, site, "/editor?bp=online-order", "#editor-preview .scatterlayer .point", 60)
    # the preview is drawn again once its spans are counted: click the tiles of that second drawing
    wait_until(lambda: "spans/h matched" in text(browser, "editor-preview"), 60)
    points = browser.find_elements("css selector", "#editor-preview .scatterlayer .point")
    ActionChains(browser).move_to_element(points[3]).click().perform()  # checkout, "Place the order"
    name = browser.find_element("id", "editor-step-name")
    wait_until(lambda: name.is_displayed() and name.get_attribute("value") == "Place the order", 20)
    name.send_keys(Keys.CONTROL, "a")
    name.send_keys("Confirm and place the order")
    browser.find_element("id", "editor-apply").click()
    wait_until(lambda: "Applied" in text(browser, "editor-status"), 20)
    browser.find_element("id", "editor-save").click()
    wait_until(lambda: "Saved online-order" in text(browser, "editor-status"), 20)

    saved = Path(site.runtime.ctx.settings.blueprints) / "online-order.yaml"
    assert "name: Confirm and place the order" in saved.read_text()
    browser.refresh()
    wait_until(lambda: "Confirm and place the" in text(browser, "editor-preview"), 30)
    wait_until(lambda: "diff" in text(browser, "editor-history"), 10)  # the previous text was kept
    screenshot(browser, "editor")


def test_saving_over_a_newer_save_is_refused_and_shows_the_difference(site: Any, browser: Any) -> None:
    open_page(browser, site, "/editor?bp=store-visit", "#editor-valid", 60)
    path = Path(site.runtime.ctx.settings.blueprints) / "store-visit.yaml"
    path.write_text(path.read_text() + "# changed by someone else\n")

    browser.find_element("id", "editor-save").click()

    wait_until(lambda: "saved by someone else" in text(browser, "editor-status"), 20)
    assert "changed by someone else" in text(browser, "editor-diff-view")


def test_the_importance_of_each_touchpoint_takes_whole_and_fractional_numbers(site: Any, browser: Any) -> None:
    open_page(browser, site, "/editor?bp=online-order", "#editor-valid", 60)
    fields = browser.find_elements("css selector", "input[id*='editor-importance']")
    assert fields, "the editor shows no importance fields"

    field = fields[0]
    for value in ("3", "1.25"):
        field.clear()
        field.send_keys(value)
        assert browser.execute_script("return arguments[0].checkValidity()", field), value


def test_a_draft_is_discovered_from_the_spans_seen(site: Any, browser: Any) -> None:
    open_page(browser, site, "/editor?bp=support-line", "#editor-valid", 60)

    browser.find_element("id", "editor-discover").click()

    wait_until(lambda: "Draft discovered from" in text(browser, "editor-status"), 40)
    wait_until(lambda: "spans/h matched" in text(browser, "editor-preview"), 30)


def test_the_editor_draws_the_draft_at_once_and_its_match_counts_when_counted(site: Any, browser: Any) -> None:
    shown = watch_page(
        browser,
        site.url + "/editor?bp=store-visit",
        {
            "problems": shows("#editor-valid"),
            "counting": says("editor-preview", "counting spans…"),
            "counted": says("editor-preview", "spans/h matched"),
        },
    )

    assert shown["counting"]["seen"] < shown["counted"]["seen"], shown
    assert shown["problems"]["seen"] < shown["counted"]["seen"], shown


def test_every_page_fits_1366_by_768(site: Any, browser: Any) -> None:
    for path, ready in (
        ("/alerts", "#alerts-groups"),
        ("/journey", "#journey-result"),
        ("/editor", "#editor-problems"),
    ):
        open_page(browser, site, path, ready)
        assert fits_the_window(browser), path


def test_a_server_without_spans_says_how_to_start(
    engine_path: Path, tmp_path_factory: pytest.TempPathFactory, browser: Any
) -> None:
    from app.server import serve_in_thread
    from app.settings import Settings
    from collectors.db import connect
    from collectors.schema import migrate

    dsn = f"chdb://{engine_path}?database=t_browser_first_run"
    client = connect(dsn)
    client.command("DROP DATABASE IF EXISTS t_browser_first_run")
    client.close()
    migrate(connect(dsn))
    empty = serve_in_thread(
        Settings(db=dsn, port=0, evaluate_alerts=False, blueprints=tmp_path_factory.mktemp("none"))
    )
    try:
        open_page(browser, empty, "/", "#first-run")
        shown = text(browser, "first-run")
        assert "touchpoint demo" in shown
        assert f"OTEL_EXPORTER_OTLP_ENDPOINT={empty.url}" in shown
        assert f"{empty.url}/v1/traces" in text(browser, "shell-first-run")
        screenshot(browser, "first-run")
    finally:
        empty.stop()


def test_nothing_reached_the_browser_console_as_an_error(browser: Any) -> None:
    errors = [
        e for e in browser.get_log("browser") if e["level"] == "SEVERE" and "favicon" not in e["message"]
    ]

    assert errors == [], [e["message"][:600] for e in errors[:3]]
