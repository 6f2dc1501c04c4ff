"""In a real Chromium: signing in through the form, the dashboard's callbacks carrying the CSRF token, and
script payloads in span names, services, status messages and actor ids shown as text — never run — on the
journey waterfall and every other page.

Needs /usr/bin/chromium and /usr/bin/chromedriver (`make test` installs them as root); skipped without.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from auth_client import AppServer, bearer, signin_settings, start_app_server
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Status

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not (Path("/usr/bin/chromium").exists() and Path("/usr/bin/chromedriver").exists()),
        reason="needs /usr/bin/chromium and /usr/bin/chromedriver",
    ),
]

ROOT = Path(__file__).resolve().parent.parent
JOURNEY = "j-xss-1"
PAYLOADS = [
    '<img src=x onerror="window.__xss=(window.__xss||0)+1">',
    "<script>window.__xss=(window.__xss||0)+1</script>",
    '"><svg onload="window.__xss=(window.__xss||0)+1">',
    '<a href="javascript:window.__xss=1">open</a>',
    '<iframe srcdoc="<script>parent.__xss=1</script>"></iframe>',
    '<a href="https://evil.example/">sign in again</a>',
]


def _kv(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def hostile_journey(start_ns: int) -> bytes:
    """A journey of the online-order map whose other spans carry script payloads everywhere text shows."""
    request = ExportTraceServiceRequest()
    web = request.resource_spans.add()
    web.resource.attributes.append(_kv("service.name", "web-shop"))
    search = web.scope_spans.add().spans.add()
    search.trace_id, search.span_id = b"\x11" * 16, b"\x01" * 8
    search.name = "GET /search"
    search.start_time_unix_nano, search.end_time_unix_nano = start_ns, start_ns + 200_000_000
    search.attributes.append(_kv("journey.id", JOURNEY))
    for n, payload in enumerate(PAYLOADS):
        hostile = request.resource_spans.add()
        hostile.resource.attributes.append(_kv("service.name", payload))
        span = hostile.scope_spans.add().spans.add()
        span.trace_id, span.span_id = b"\x11" * 16, bytes([0x20 + n]) * 8
        span.name = payload
        span.start_time_unix_nano = start_ns + (n + 1) * 300_000_000
        span.end_time_unix_nano = span.start_time_unix_nano + 100_000_000
        span.status.code = Status.STATUS_CODE_ERROR
        span.status.message = payload
        span.attributes.extend([_kv("actor.type", "person"), _kv("actor.id", payload), _kv("note", payload)])
    return request.SerializeToString()


@pytest.fixture(scope="module")
def site(dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    running = start_app_server(signin_settings(dsn, tmp_path_factory.mktemp("browser"), api_rate_per_s=0))
    sent = requests.post(
        running.url + "/v1/traces",
        data=hostile_journey(time.time_ns() - 600 * 10**9),
        headers={"Content-Type": "application/x-protobuf", **bearer("collector")},
        timeout=30,
    )
    assert sent.status_code == 200, sent.text
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def sign_in_with_form(driver, url: str, path: str) -> None:  # noqa: ANN001
    """Ask for `path`, be sent to the sign-in form, fill it in as vic, and come back."""
    from selenium.webdriver.common.by import By

    driver.get(url + path)
    wait_for(driver, lambda d: "/login" in d.current_url)
    driver.find_element(By.ID, "user").send_keys("vic")
    driver.find_element(By.ID, "password").send_keys("vic-password")
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(driver, lambda d: "/login" not in d.current_url)


@pytest.fixture
def signed_in(site: AppServer, browser):  # noqa: ANN001, ANN201 - the browser, signed in as vic
    if browser.get_cookie("touchpoint_session") is None:
        sign_in_with_form(browser, site.url, "/")
    return browser


def wait_for(driver, condition, seconds: float = 30):  # noqa: ANN001, ANN201
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, seconds).until(condition)


def assert_nothing_ran(driver) -> None:  # noqa: ANN001
    from selenium.common.exceptions import NoAlertPresentException

    assert driver.execute_script("return window.__xss === undefined ? null : window.__xss") is None
    try:
        text = driver.switch_to.alert.text
    except NoAlertPresentException:
        return
    raise AssertionError(f"a dialog opened: {text}")


def test_sign_in_form_leads_back_to_the_page_asked_for(site: AppServer, browser) -> None:  # noqa: ANN001
    from selenium.webdriver.common.by import By

    browser.delete_all_cookies()

    sign_in_with_form(browser, site.url, f"/journey?bp=online-order&key={quote(JOURNEY)}")

    assert "/journey?bp=online-order" in browser.current_url
    who = wait_for(browser, lambda d: d.find_elements(By.CLASS_NAME, "tp-who"))
    assert who[0].text == "vic · viewer"


def test_dashboard_callbacks_carry_the_csrf_token(site: AppServer, signed_in) -> None:  # noqa: ANN001
    """The page body and the journey arrive through POSTs to /_dash-update-component: refused without it."""
    from selenium.webdriver.common.by import By

    signed_in.get(site.url + f"/journey?bp=online-order&key={quote(JOURNEY)}")

    wait_for(signed_in, lambda d: d.find_elements(By.ID, "journey-waterfall"), 60)
    assert signed_in.get_cookie("_csrf_token") is not None
    assert site.runtime.ctx.parts["auth"].refused.get(403, 0) == 0


def test_script_payloads_in_a_journey_are_shown_as_text(site: AppServer, signed_in) -> None:  # noqa: ANN001
    from selenium.webdriver.common.by import By

    signed_in.get(site.url + f"/journey?bp=online-order&key={quote(JOURNEY)}")
    wait_for(signed_in, lambda d: d.find_elements(By.CSS_SELECTOR, "#journey-waterfall .main-svg"), 60)
    time.sleep(1)

    assert_nothing_ran(signed_in)
    injected = signed_in.execute_script(
        "return [...document.querySelectorAll('img[src=x], iframe, [onerror], [onload], script')]"
        ".filter(e => e.tagName !== 'SCRIPT' || e.textContent.includes('__xss'))"
        ".map(e => e.outerHTML.slice(0, 120))"
    )
    links = signed_in.execute_script("return [...document.querySelectorAll('a')].map(a => a.href)")
    assert injected == [], injected
    assert not [href for href in links if href.lower().startswith("javascript:")]
    assert not [href for href in links if "evil.example" in href], "span text became a link"


@pytest.mark.parametrize("path", ["/", "/blueprint?bp=online-order", "/step?bp=online-order&step=search"])
def test_other_pages_run_no_payload(site: AppServer, signed_in, path: str) -> None:  # noqa: ANN001
    signed_in.get(site.url + path)
    time.sleep(3)

    assert_nothing_ran(signed_in)
