"""`touchpoint alerts`: check rules files, list rules, and look at and act on a running server's alerts.

touchpoint alerts rules validate PATH… [--blueprints DIR]   exit 1 and file:line:column messages if wrong
touchpoint alerts rules list [--rules DIR] [--blueprints DIR]
touchpoint alerts list [--state firing,acknowledged] [--blueprint ID] [--url URL]
touchpoint alerts ack|resolve ALERT_ID [--by NAME]
touchpoint alerts assign ALERT_ID ASSIGNEE [--by NAME]
touchpoint alerts note ALERT_ID TEXT [--by NAME]
touchpoint alerts silence add MATCHER… --for 2h [--comment TEXT] [--by NAME]
touchpoint alerts silence list | expire SILENCE_ID
touchpoint alerts webhook-schema                              the JSON schema of webhook bodies
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `alerts` and its subcommands; each sets `func`, which returns the exit status."""
    p = subparsers.add_parser(
        "alerts",
        help="alert rules, alerts and silences",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="alerts_command", metavar="SUBCOMMAND", required=True)

    rules = sub.add_parser("rules", help="check and list alert rules").add_subparsers(
        dest="rules_command", required=True
    )
    validate = rules.add_parser("validate", help="check rules files (and their fit with the blueprints)")
    validate.add_argument("paths", nargs="+", type=Path, help="rules files or directories")
    validate.add_argument(
        "--blueprints", type=Path, help="blueprint directory to check steps and objectives against"
    )
    validate.set_defaults(func=run_validate)
    listing = rules.add_parser("list", help="list the rules in force, generated ones included")
    listing.add_argument("--rules", type=Path, help="rules directory (default: settings, alerts/rules)")
    listing.add_argument(
        "--blueprints", type=Path, help="blueprint directory (default: settings, blueprints/maps)"
    )
    listing.set_defaults(func=run_rules_list)

    def server(name: str, help_text: str) -> argparse.ArgumentParser:
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument(
            "--url", help="the Touchpoint server (default: env TOUCHPOINT_URL, http://127.0.0.1:8050)"
        )
        return cmd

    lst = server("list", "list a running server's alerts")
    lst.add_argument("--state", help="comma-separated states, or all (default: open alerts)")
    lst.add_argument("--blueprint")
    lst.add_argument("--step")
    lst.add_argument("--json", action="store_true", help="print the API's JSON")
    lst.set_defaults(func=run_list)
    for action, text in (("ack", "acknowledge an alert"), ("resolve", "resolve an alert by hand")):
        cmd = server(action, text)
        cmd.add_argument("alert_id")
        cmd.add_argument("--by", help="who does it (default: $USER)")
        cmd.set_defaults(func=run_action, action=action)
    assign = server("assign", "give an alert an owner")
    assign.add_argument("alert_id")
    assign.add_argument("assignee")
    assign.add_argument("--by")
    assign.set_defaults(func=run_action, action="assign")
    note = server("note", "add a note to an alert")
    note.add_argument("alert_id")
    note.add_argument("text")
    note.add_argument("--by")
    note.set_defaults(func=run_action, action="note")

    silence = sub.add_parser("silence", help="mute notifications").add_subparsers(
        dest="silence_command", required=True
    )
    add = silence.add_parser(
        "add", help="silence alerts matching all MATCHERs (step=checkout, severity!=info)"
    )
    add.add_argument("matchers", nargs="+")
    add.add_argument("--for", dest="duration", required=True, help="how long, e.g. 2h")
    add.add_argument("--comment", default="")
    add.add_argument("--by")
    add.add_argument("--url")
    add.set_defaults(func=run_silence_add)
    for name, func in (("list", run_silence_list), ("expire", run_silence_expire)):
        cmd = silence.add_parser(name, help=f"{name} silences")
        if name == "expire":
            cmd.add_argument("silence_id")
            cmd.add_argument("--by")
        cmd.add_argument("--url")
        cmd.set_defaults(func=func)
    schema = sub.add_parser("webhook-schema", help="print the JSON schema of webhook notification bodies")
    schema.set_defaults(func=run_schema)


def run_validate(args: argparse.Namespace) -> int:
    from alerts.errors import RulesInvalid
    from alerts.rules_check import check_rules
    from alerts.rules_yaml import load_rules

    try:
        rules = load_rules(args.paths)
    except RulesInvalid as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    if args.blueprints is not None:
        problems = check_rules(rules, _graphs(args.blueprints))
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            return 1
    print(f"{len(rules.rules)} rules and {len(rules.destinations)} destinations are valid")
    return 0


def run_rules_list(args: argparse.Namespace) -> int:
    from alerts.errors import RulesInvalid
    from alerts.rule_source import RuleSource, directory_blueprints
    from app.settings import Settings

    settings = Settings()
    source = RuleSource(
        args.rules or settings.rules, directory_blueprints(args.blueprints or settings.blueprints)
    )
    try:
        context = source.current()
    except RulesInvalid as exc:  # pragma: no cover - RuleSource logs rather than raises
        print(exc, file=sys.stderr)
        return 1
    for problem in context.problems:
        print(f"problem: {problem}", file=sys.stderr)
    for rule in context.rules.rules:
        target = getattr(rule, "step", None) or getattr(rule, "touchpoint", None) or "*"
        print(
            f"{rule.id:55} {rule.kind:12} {rule.severity!s:7} {rule.blueprint}/{target}  "
            f"({context.rules.origins.get(rule.id, '')})"
        )
    return 1 if context.problems else 0


def run_list(args: argparse.Namespace) -> int:
    params = {
        k: v for k, v in (("state", args.state), ("blueprint", args.blueprint), ("step", args.step)) if v
    }
    body = _call(args, "GET", "/api/v1/alerts", params=params)
    if body is None:
        return 1
    if args.json:
        print(json.dumps(body, indent=2))
        return 0
    for alert in body["alerts"]:
        where = alert.get("step") or alert.get("touchpoint") or "*"
        cause = f"  <- {alert['caused_by']}" if alert.get("caused_by") else ""
        print(
            f"{alert['id']}  {alert['state']:12} {alert['severity']:6} {alert['blueprint']}/{where} "
            f"{alert['rule_id']}: {alert['summary']}{cause}"
        )
    if not body["alerts"]:
        print("no alerts")
    return 0


def run_action(args: argparse.Namespace) -> int:
    payload: dict[str, Any] = {"by": _who(args)}
    if args.action == "assign":
        payload["assignee"] = args.assignee
    if args.action == "note":
        payload["text"] = args.text
    body = _call(args, "POST", f"/api/v1/alerts/{args.alert_id}/{args.action}", json_body=payload)
    if body is None:
        return 1
    alert = body["alert"]
    print(
        f"{alert['id']} is {alert['state']}"
        + (f", assigned to {alert['assignee']}" if alert.get("assignee") else "")
    )
    return 0


def run_silence_add(args: argparse.Namespace) -> int:
    payload = {
        "matchers": args.matchers,
        "duration": args.duration,
        "comment": args.comment,
        "created_by": _who(args),
    }
    body = _call(args, "POST", "/api/v1/silences", json_body=payload)
    if body is None:
        return 1
    silence = body["silence"]
    print(f"silence {silence['id']} until {silence['ends_at']}")
    return 0


def run_silence_list(args: argparse.Namespace) -> int:
    body = _call(args, "GET", "/api/v1/silences")
    if body is None:
        return 1
    for s in body["silences"]:
        matchers = ", ".join(f"{m['name']}{m['op']}{m['value']}" for m in s["matchers"])
        print(f"{s['id']}  until {s['ends_at']}  {matchers}  by {s['created_by']}: {s['comment']}")
    if not body["silences"]:
        print("no silences")
    return 0


def run_silence_expire(args: argparse.Namespace) -> int:
    body = _call(
        args, "DELETE", f"/api/v1/silences/{args.silence_id}", headers={"X-Touchpoint-User": _who(args)}
    )
    if body is None:
        return 1
    print(f"silence {body['silence']['id']} expired")
    return 0


def run_schema(args: argparse.Namespace) -> int:
    from alerts.notify.webhook import webhook_schema

    print(json.dumps(webhook_schema(), indent=2))
    return 0


def _graphs(directory: Path) -> dict[str, Any]:
    from alerts.blueprint_source import read_blueprint_dir
    from blueprints.journey_graph import journey_graph

    return {bid: journey_graph(model) for bid, model in read_blueprint_dir(directory).items()}


def _who(args: argparse.Namespace) -> str:
    import getpass

    return str(getattr(args, "by", None) or getpass.getuser())


def _call(args: argparse.Namespace, method: str, path: str, **kwargs: Any) -> dict[str, Any] | None:
    """The JSON answer, or None after printing why the server did not give one."""
    import requests

    from app.settings import Settings

    settings = Settings()
    url = (args.url or str(settings.url)).rstrip("/")
    headers = dict(kwargs.get("headers") or {})
    token = getattr(settings, "token", None)
    if token:
        headers["Authorization"] = f"Bearer {token.get_secret_value()}"
    try:
        response = requests.request(
            method,
            url + path,
            timeout=10,
            params=kwargs.get("params"),
            json=kwargs.get("json_body"),
            headers=headers,
        )
    except requests.RequestException as exc:
        print(f"touchpoint alerts: cannot reach {url}: {exc}", file=sys.stderr)
        return None
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code in (401, 403):
        print(
            f"touchpoint alerts: {url} refused: {body.get('error') or response.text[:200]} "
            "(set TOUCHPOINT_TOKEN to an API token the server knows)",
            file=sys.stderr,
        )
        return None
    if response.status_code >= 400:
        print(
            f"touchpoint alerts: {body.get('error') or response.text[:200]} (HTTP {response.status_code})",
            file=sys.stderr,
        )
        return None
    return body  # type: ignore[no-any-return]
