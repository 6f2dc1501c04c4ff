"""A Touchpoint server with demo traffic for the browser tests, and a headless Chromium to drive it.

The server is a full one in this process (receiver, state API, alert engine, dashboard) on the test
module's database, with a copy of the demo blueprint maps (the editor saves there, never into the repo).
Half an hour of demo journeys arrives over real OTLP/HTTP, with payments failing for the last ten minutes;
two alert cycles run, so alerts are firing when the pages load.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
FAULT = "failure:online-order/payment@+20m/10m=0.6"


def start_site(dsn: str, workdir: Path) -> Any:
    """The server, filled with demo traffic and evaluated once by the alert engine."""
    from app.api.alerts import start as start_alerts
    from app.api.state import install as install_state
    from app.demo import DemoConfig, FaultSpec, otlp_exporter_factory, simulate
    from app.server import serve_in_thread
    from app.settings import Settings

    maps = workdir / "maps"
    shutil.copytree(ROOT / "blueprints" / "maps", maps)
    settings = Settings(
        db=dsn,
        port=0,
        evaluate_alerts=False,
        blueprints=maps,
        rules=ROOT / "alerts" / "rules",
        refresh_ms=3000,
        api_rate_per_s=0,
    )
    running = serve_in_thread(settings, start_hooks=[blueprint_store(maps), start_alerts, install_state])
    now = datetime.now(UTC)
    config = DemoConfig(
        start=now - timedelta(minutes=30),
        duration=timedelta(minutes=30),
        rate=1.0,
        seed=11,
        faults=(FaultSpec.parse(FAULT),),
    )
    simulate(config, otlp_exporter_factory(running.url))
    client = running.runtime.ctx.client()
    wait_until(lambda: client.query("SELECT count() FROM otel_traces").result_rows[0][0] > 5000, 60)
    engine = running.runtime.ctx.parts["alerts"]
    engine.run_once()
    engine.run_once()
    return running


def blueprint_store(maps: Path) -> Callable[[Any], None]:
    """A start hook installing the blueprint store on `maps` with its version history (when blueprints/
    has one; the dashboard reads the directory itself otherwise)."""

    def install(ctx: Any) -> None:
        try:
            from blueprints.store import BlueprintStore
            from blueprints.versions import VersionLog, ensure_schema
        except ImportError:
            return
        ensure_schema(ctx.client())
        ctx.parts["blueprints"] = BlueprintStore(maps, VersionLog(ctx.pool.client))

    return install


def wait_until(condition: Callable[[], Any], seconds: float) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"still not true after {seconds:.0f} s")


# Injected before a page's scripts: for each named condition (a JavaScript expression), when it first held
# (`seen`, ms since navigation, in the order the page changed) and the animation frame it was painted in
# (`frame`, the frame's start: two things painted in the same frame have the same number).
_WATCH = """
window.__shown = {};
(function (conditions) {
  new MutationObserver(function () {
    Object.keys(conditions).forEach(function (name) {
      var holds = false;
      try { holds = Boolean(new Function("return " + conditions[name])()); } catch (e) { holds = false; }
      if (holds && !(name in window.__shown)) {
        var mark = window.__shown[name] = {seen: performance.now(), frame: null};
        requestAnimationFrame(function (frame) { mark.frame = frame; });
      }
    });
  }).observe(document, {childList: true, subtree: true, attributes: true, characterData: true});
})(%s);
"""


def watch_page(driver: Any, url: str, conditions: dict[str, str], seconds: float = 40) -> dict[str, dict[str, float]]:
    """Open `url` and return, per name in `conditions` (name -> JavaScript expression), when it first held and
    the frame that painted it: {"seen": ms, "frame": ms}."""
    watch = driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": _WATCH % json.dumps(conditions)})
    try:
        driver.get(url)

        def shown() -> dict[str, dict[str, float]] | None:
            found = driver.execute_script("return window.__shown || {}")
            painted = all((found.get(name) or {}).get("frame") is not None for name in conditions)
            return found if painted else None

        return wait_until(shown, seconds)  # type: ignore[no-any-return]
    finally:
        driver.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", watch)


def chromium(profile: Path) -> Any:
    """Headless Chromium at 1366x768 with a fresh profile."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1366,768",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    return driver


def screenshot(driver: Any, name: str) -> Path:
    """Keep what the browser shows under artifacts/screenshots/ (for people to look at)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path
