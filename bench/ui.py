"""Dashboard benchmark: the live blueprint's callback for a 50-step blueprint with 1M spans in its window,
and the first render of every page in a real headless Chromium.

    python -m bench.ui [--spans 1000000] [--calls 40] [--no-browser]

A fresh embedded engine gets ~1M spans over the last 15 minutes (INSERT … SELECT from numbers()): journeys of
50 steps over 5 stages and every lane, bound by exact names, globs and the `blueprint.step` attribute, with 1%
errors and 5% unmapped noise. A full server runs in this process (state API, alert engine, dashboard).

(a) The blueprint page's callbacks, POSTed as the browser does (`render`, the figures in numbers, then `draw`,
    the swimlane), --calls times one refresh apart in simulated succession (each call is a viewer
    refreshing): wall time on 127.0.0.1, p50/p95/max of the two together and of each, the first (cold) call
    apart. Baseline in the same run: the state computed inline for every call, as it would be
    without the shared per-refresh state (compute_state on the same window), which is what the callback
    would otherwise cost.
(b) First render of each page, in a real headless Chromium: ms from navigation until its frame (the
    layout's shell), its content (the first figures in numbers: cards, KPIs, tables) and its charts are shown,
    timed inside the page (a MutationObserver and the next animation frame), in a fresh browser profile
    (cold: scripts downloaded, parsed) and again (warm). The target, 2 s, is on the content. Skipped without
    /usr/bin/chromium.
Prints the figures, then a JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from collectors.schema import TRACES_TABLE  # noqa: E402

STEPS = 50
STAGES = 5
LANES = ("customer", "frontstage", "backstage", "support", "evidence")
WINDOW_S = 900


def blueprint_document() -> dict[str, Any]:
    """50 steps: names exact (0-29), globs (30-39), `blueprint.step` (40-49); 10 per stage, lanes in turn."""
    steps = []
    for i in range(STEPS):
        if i < 30:
            select: dict[str, Any] = {"service": f"svc-{i % 7}", "span": f"op-{i}"}
        elif i < 40:
            select = {"service": f"svc-{i % 7}", "span": f"GET /item{i}/*"}
        else:
            select = {"step": f"step-{i}"}
        steps.append(
            {
                "id": f"step-{i}",
                "name": f"Step {i}",
                "lane": LANES[i % 5 if i % 10 else 0],
                "stage": f"stage-{i // 10}",
                "actor": ("person", "process", "system")[i % 3],
                "select": select,
                "objectives": {
                    "availability": 0.995,
                    "latency": {"percentile": 95, "threshold_ms": 800},
                    "max_wait_s": 30,
                },
                **({"touchpoint": "web"} if LANES[i % 5 if i % 10 else 0] in ("customer", "frontstage") else {}),
            }
        )
    return {
        "id": "bench",
        "name": "Bench journey",
        "correlation": {"key": "journey.id", "timeout": "10m"},
        "stages": [{"id": f"stage-{s}", "name": f"Stage {s}"} for s in range(STAGES)],
        "touchpoints": [{"id": "web", "name": "Web", "channel": "web", "importance": 3}],
        "steps": steps,
        "flows": [{"from": f"step-{i}", "to": f"step-{i + 1}"} for i in range(STEPS - 1)],
    }


def generate(client: Any, start: datetime, seconds: int, spans: int) -> int:
    """About `spans` spans of 50-step journeys starting over `seconds` from `start`; returns rows inserted."""
    journeys = spans // STEPS
    spacing_ns = max(1, (seconds - 60) * 10**9 // journeys)
    sql = f"""
INSERT INTO {TRACES_TABLE} (Timestamp, TraceId, SpanId, ParentSpanId, SpanName, SpanKind, ServiceName,
                            SpanAttributes, Duration, StatusCode, StatusMessage)
SELECT
    {{start:DateTime64(9)}} + toIntervalNanosecond(j * {spacing_ns} + i * 1000000000 + cityHash64(n, 1) % 400000000),
    lower(hex(cityHash64(j, intDiv(i, 10)))), lower(hex(cityHash64(n, 9))), '',
    multiIf(noise, ['GET /health', 'poll'][1 + n % 2], i < 30, concat('op-', toString(i)),
            i < 40, concat('GET /item', toString(i), '/', toString(n % 10)), concat('task-', toString(i))),
    ['Server', 'Internal', 'Client'][1 + i % 3],
    if(noise, 'noise', concat('svc-', toString(i % 7))),
    map('journey.id', concat('j-', toString(j)), 'blueprint.step', if(i >= 40 AND NOT noise, concat('step-', toString(i)), ''),
        'actor.type', ['person', 'process', 'system'][1 + i % 3], 'region', ['eu', 'us', 'ap'][1 + j % 3]),
    50000000 + cityHash64(n, 2) % 700000000,
    if(cityHash64(n, 3) % 100 = 0, 'Error', 'Ok'),
    if(cityHash64(n, 3) % 100 = 0, 'upstream timed out', '')
FROM (SELECT number AS n, intDiv(number, {STEPS}) AS j, number % {STEPS} AS i, cityHash64(number, 5) % 20 = 0 AS noise
      FROM numbers({journeys * STEPS}))
"""  # noqa: E501
    client.command(sql, parameters={"start": start})
    return int(client.query(f"SELECT count() FROM {TRACES_TABLE}").result_rows[0][0])


def render_payload(dependencies: list[dict[str, Any]], view: dict[str, Any], tick: int) -> dict[str, Any]:
    """The POST the browser sends for the blueprint page's `render` callback (the figures in numbers)."""
    inputs = [
        {"id": "blueprint-view", "property": "data", "value": view},
        {"id": "blueprint-refresh", "property": "n_intervals", "value": tick},
    ]
    return _payload(dependencies, "blueprint-summary.children", inputs, "blueprint-refresh.n_intervals")


def draw_payload(dependencies: list[dict[str, Any]], rendered: requests.Response) -> dict[str, Any]:
    """The POST the browser sends next, for the `draw` callback (the swimlane), given `render`'s answer (which
    the browser hands on unchanged once it has painted it)."""
    drawn = rendered.json()["response"]["blueprint-drawn"]["data"]
    inputs = [{"id": "blueprint-painted", "property": "data", "value": drawn}]
    return _payload(dependencies, "blueprint-graph.figure", inputs, "blueprint-painted.data")


def _payload(dependencies: list[dict[str, Any]], output: str, inputs: list[Any], changed: str) -> dict[str, Any]:
    entry = next(d for d in dependencies if d["output"].lstrip(".").startswith(output))
    several = entry["output"].startswith("..")
    listed = entry["output"][2:-2].split("...") if several else [entry["output"]]
    outputs = [dict(zip(("id", "property"), o.rsplit(".", 1), strict=True)) for o in listed]
    return {
        "output": entry["output"],
        "outputs": outputs if several else outputs[0],
        "inputs": inputs,
        "changedPropIds": [changed],
        "state": [],
    }


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def bench_callback(url: str, calls: int, refresh_s: float) -> dict[str, Any]:
    """A refresh of the blueprint page as the browser makes it: `render` (the figures in numbers), then `draw`
    (the swimlane) with what `render` answered. Times each and the two together."""
    dependencies = requests.get(url + "/_dash-dependencies", timeout=30).json()
    view = {"bp": "bench", "range": "1h", "end": None, "step": None, "paused": False}
    timings: dict[str, list[float]] = {"render": [], "draw": [], "both": []}
    size = 0
    for tick in range(calls + 1):
        began = time.perf_counter()
        reply = _post(url, render_payload(dependencies, view, tick))
        rendered = time.perf_counter()
        figure = _post(url, draw_payload(dependencies, reply))
        ended = time.perf_counter()
        for name, ms in (("render", rendered - began), ("draw", ended - rendered), ("both", ended - began)):
            timings[name].append(ms * 1000)
        size = len(reply.content) + len(figure.content)
        if tick % 10 == 9:
            time.sleep(refresh_s)  # let the shared state go stale: the next call is served it and refreshes it
    result: dict[str, Any] = {"calls": calls, "bytes": size}
    for name, values in timings.items():
        warm = values[1:]
        result[name] = {
            "cold_ms": round(values[0], 1),
            "p50_ms": round(statistics.median(warm), 1),
            "p95_ms": round(percentile(warm, 0.95), 1),
            "max_ms": round(max(warm), 1),
        }
    return result


def _post(url: str, payload: dict[str, Any]) -> requests.Response:
    reply = requests.post(url + "/_dash-update-component", json=payload, timeout=120)
    if reply.status_code != 200:
        raise SystemExit(f"{payload['output']} callback answered {reply.status_code}: {reply.text[:300]}")
    return reply


def bench_inline_state(client: Any, blueprint: Any, repeat: int) -> dict[str, Any]:
    """Baseline: what computing the state inside every callback would cost."""
    from app.api.state import state_options
    from app.settings import Settings
    from blueprints.state import compute_state

    timings = []
    for _ in range(repeat):
        now = datetime.now(UTC)
        began = time.perf_counter()
        compute_state(client, blueprint, now - timedelta(seconds=WINDOW_S), now, now, state_options(Settings()))
        timings.append((time.perf_counter() - began) * 1000)
    return {"p50_ms": round(statistics.median(timings), 1), "max_ms": round(max(timings), 1), "runs": repeat}


# Per page: its frame (the shell drawn from the layout), its content (the first figures in numbers: tiles,
# tables) and its charts drawn. The target is on the content: "first render" in the words.
PAGES = {
    "overview": ("/", "#_pages_content h1", "#overview-card-bench .tp-score", "#overview-card-bench .js-plotly-plot"),
    "blueprint": (
        "/blueprint?bp=bench",
        ".tp-controls",
        "#blueprint-summary .tp-kpi",
        "#blueprint-graph .annotation-text-g",
    ),
    "step": ("/step?bp=bench&step=step-5", ".tp-title", "#step-errors-table", "#step-trends .js-plotly-plot"),
    "journey": (
        "/journey?bp=bench&key={journey}",
        ".tp-title",
        "#journey-figures .tp-kpi",
        "#journey-waterfall .main-svg",
    ),
    "alerts": ("/alerts", ".tp-controls", "#alerts-groups a", "#alerts-groups a"),
    "editor": ("/editor?bp=bench", ".tp-controls", "#editor-valid", "#editor-preview .annotation-text-g"),
}
MARKS = ("frame", "content", "figures")
TARGET_MS = 2000
# Injected into every document before its scripts: note when each selector first matches, at the next frame
# (when it is painted), in ms since navigation started. Timed in the page, so a busy page cannot make the
# polling below late.
WATCH = """
window.__tpShown = {};
(function (wanted) {
  function look() {
    wanted.forEach(function (pair) {
      if (!(pair[0] in window.__tpShown) && document.querySelector(pair[1])) {
        window.__tpShown[pair[0]] = null;
        requestAnimationFrame(function () { window.__tpShown[pair[0]] = performance.now(); });
      }
    });
  }
  new MutationObserver(look).observe(document, {childList: true, subtree: true, attributes: true});
})(%s);
"""


def bench_pages(url: str, journey: str) -> dict[str, Any]:
    """Per page: ms from navigation until its frame, its content and its charts are shown, in a fresh
    browser profile (cold: scripts downloaded) and again (warm)."""
    from browser_site import chromium

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as profile:
        driver = chromium(Path(profile))
        try:
            for attempt in ("cold", "warm"):
                for name, (path, *selectors) in PAGES.items():
                    marks = [[mark, css.format(journey=journey)] for mark, css in zip(MARKS, selectors, strict=True)]
                    watch = driver.execute_cdp_cmd(
                        "Page.addScriptToEvaluateOnNewDocument", {"source": WATCH % json.dumps(marks)}
                    )
                    try:
                        driver.get(url + path.format(journey=journey))
                        shown = _until_shown(driver, path)
                    finally:
                        driver.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", watch)
                    results.setdefault(name, {})[attempt] = {f"{mark}_ms": round(shown[mark]) for mark in MARKS}
        finally:
            driver.quit()
    return results


def _until_shown(driver: Any, path: str) -> dict[str, float]:
    deadline = time.monotonic() + 60
    while True:
        shown = driver.execute_script("return window.__tpShown || {}")
        if all(shown.get(mark) is not None for mark in MARKS):
            return shown  # type: ignore[no-any-return]
        if time.monotonic() > deadline:
            missing = [mark for mark in MARKS if shown.get(mark) is None]
            raise SystemExit(f"page {path} did not show its {', '.join(missing)} in 60 s")
        time.sleep(0.05)


def _verdict(*content_ms: int) -> str:
    worst = max(content_ms)
    return f"ok (<= {TARGET_MS})" if worst <= TARGET_MS else f"MISSES {TARGET_MS} by {worst - TARGET_MS} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spans", type=int, default=1_000_000, help="spans in the 15-minute window")
    parser.add_argument("--calls", type=int, default=40, help="render callbacks timed after the first")
    parser.add_argument("--no-browser", action="store_true", help="skip the page renders")
    args = parser.parse_args(argv)

    from state_scenario import blueprint

    from app.api.alerts import start as start_alerts
    from app.api.state import install as install_state
    from app.server import serve_in_thread
    from app.settings import Settings

    with tempfile.TemporaryDirectory() as folder:
        maps = Path(folder) / "maps"
        maps.mkdir()
        YAML().dump(blueprint_document(), maps / "bench.yaml")
        settings = Settings(
            db=f"chdb://{folder}/data",
            port=0,
            blueprints=maps,
            rules=Path(folder) / "rules",
            evaluate_alerts=False,
            api_rate_per_s=0,
        )
        running = serve_in_thread(settings, start_hooks=[start_alerts, install_state])
        try:
            client = running.runtime.ctx.client()
            now = datetime.now(UTC)
            began = time.perf_counter()
            total = generate(client, now - timedelta(seconds=WINDOW_S), WINDOW_S, args.spans)
            took = time.perf_counter() - began
            print(f"{total:,} spans in the last {WINDOW_S // 60} minutes, generated in {took:.1f} s")
            running.runtime.ctx.parts["alerts"].run_once()
            callback = bench_callback(running.url, args.calls, settings.refresh_ms / 1000)
            both = callback["both"]
            print(
                f"(a) blueprint page refresh, 50 steps (render, then draw): cold {both['cold_ms']} ms; then p50 "
                f"{both['p50_ms']} ms, p95 {both['p95_ms']} ms, max {both['max_ms']} ms over {callback['calls']} "
                f"calls (target p95 <= 300 ms); {callback['bytes']:,} bytes per refresh"
            )
            for name in ("render", "draw"):
                part = callback[name]
                print(
                    f"    {name:6} alone: cold {part['cold_ms']} ms; p50 {part['p50_ms']} ms, p95 {part['p95_ms']} ms"
                )
            inline = bench_inline_state(client, blueprint((maps / "bench.yaml").read_text()), 5)
            print(
                f"    baseline, the state computed inside each callback: p50 {inline['p50_ms']} ms, "
                f"max {inline['max_ms']} ms"
            )
            pages: dict[str, Any] = {}
            if args.no_browser or not Path("/usr/bin/chromium").exists():
                print("(b) page renders skipped (--no-browser, or no /usr/bin/chromium)")
            else:
                pages = bench_pages(running.url, "j-100")
                print(
                    f"(b) first render, ms from navigation: frame / content / charts (target: content <= {TARGET_MS})"
                )
                for name, runs in pages.items():
                    cold, warm = runs["cold"], runs["warm"]
                    print(
                        f"    {name:9} fresh browser {cold['frame_ms']:5} / {cold['content_ms']:5} / "
                        f"{cold['figures_ms']:5}; again {warm['frame_ms']:5} / {warm['content_ms']:5} / "
                        f"{warm['figures_ms']:5}  {_verdict(cold['content_ms'], warm['content_ms'])}"
                    )
        finally:
            running.stop()
    print(json.dumps({"spans": total, "callback": callback, "inline_state": inline, "pages": pages}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
