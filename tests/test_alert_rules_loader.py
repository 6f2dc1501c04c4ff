"""Rules files: what a valid one gives, and the exact located message for each mistake."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts.blueprint_source import read_blueprint_dir
from alerts.durations import format_duration, parse_duration
from alerts.errors import RulesInvalid
from alerts.generated import generated_rules
from alerts.model import Severity
from alerts.rules import PAGE_WINDOWS, BurnRateRule, DarkRule, FailureRule
from alerts.rules_check import check_rules
from alerts.rules_yaml import load_rules, load_rules_file
from blueprints.journey_graph import journey_graph

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "alerts" / "rules"


def problems_of(name: str) -> list[str]:
    with pytest.raises(RulesInvalid) as caught:
        load_rules_file(FIXTURES / name, name)
    return [str(p) for p in caught.value.problems]


def graphs() -> dict:
    return {k: journey_graph(v) for k, v in read_blueprint_dir(ROOT / "blueprints" / "maps").items()}


def test_a_good_file_gives_its_rules_with_defaults_merged_and_where_each_was_written() -> None:
    rules = load_rules_file(FIXTURES / "checkout.good.yaml", "checkout.good.yaml")

    by_id = rules.by_id()
    assert list(by_id) == [
        "web-shop-failing",
        "checkout-p99",
        "checkout-burn",
        "pick-queue",
        "emails-dark",
        "order-path",
        "order-drop",
    ]
    failing = by_id["web-shop-failing"]
    assert isinstance(failing, FailureRule)
    assert (failing.blueprint, failing.touchpoint, failing.threshold) == ("online-order", "web-shop", 0.08)
    assert failing.for_ == timedelta(minutes=1)
    assert failing.labels == {"team": "checkout"}
    assert by_id["order-drop"].labels == {"team": "web"}
    assert by_id["checkout-p99"].severity is Severity.TICKET
    assert str(rules.origins["pick-queue"]) == "checkout.good.yaml:26"
    assert [d.id for d in rules.destinations] == ["on-call"]


def test_burn_rate_rules_default_to_the_sre_workbook_page_windows() -> None:
    rule = BurnRateRule(id="b", blueprint="online-order", step="checkout")

    assert rule.burn_windows == PAGE_WINDOWS
    assert [(w.long, w.short, w.factor) for w in rule.burn_windows] == [
        (timedelta(hours=1), timedelta(minutes=5), 14.4),
        (timedelta(hours=6), timedelta(minutes=30), 6),
    ]
    ticket = BurnRateRule(id="t", blueprint="online-order", step="checkout", severity="ticket")
    assert [(w.long, w.short, w.factor) for w in ticket.burn_windows] == [
        (timedelta(days=1), timedelta(hours=2), 3),
        (timedelta(days=3), timedelta(hours=6), 1),
    ]


def test_bad_values_are_reported_with_field_path_and_value() -> None:
    assert problems_of("checkout.bad-values.yaml") == [
        "checkout.bad-values.yaml:6:16 rules[0].threshold must be < 1.0, got 1.5",
        "checkout.bad-values.yaml:7:5 rules[0].windw is not a known field; known: blueprint, description, "
        "enabled, "
        "for, id, keep_firing_for, kind, labels, min_count, min_errors, severity, step, threshold, "
        "touchpoint, window",
        "checkout.bad-values.yaml:12:17 rules[1].percentile 97 is not one of 50, 90, 95, 99",
        "checkout.bad-values.yaml:13:9 rules[2].id 'Checkout Burn' must be lower-case letters, digits, "
        "'-', '_' or "
        "'.', starting with a letter or digit",
        "checkout.bad-values.yaml:19:16 rules[2].windows[0].short 'soon' is not a duration: expected e.g. "
        "90s, 5m, "
        "1h30m, 3d",
    ]


def test_an_unknown_or_missing_kind_lists_the_kinds() -> None:
    kinds = "failure, burn_rate, latency, bottleneck, dark, conformance, drop_off"
    assert problems_of("checkout.bad-kind.yaml") == [
        f"checkout.bad-kind.yaml:3:11 rules[0].kind 'failures' is not one of {kinds}",
        f"checkout.bad-kind.yaml:6:5 rules[1].kind is required; one of {kinds}",
    ]


def test_a_rule_must_name_exactly_one_target() -> None:
    assert problems_of("checkout.bad-target.yaml") == [
        "checkout.bad-target.yaml:2:5 rules[0] must name exactly one of step, touchpoint",
        "checkout.bad-target.yaml:8:5 rules[1] must name exactly one of step, touchpoint",
    ]


def test_defaults_and_sections_are_checked_where_they_are_written() -> None:
    assert problems_of("checkout.bad-defaults.yaml") == [
        "checkout.bad-defaults.yaml:3:13 defaults.severity 'pager' is not one of page, ticket, info",
        "checkout.bad-defaults.yaml:4:3 defaults.window cannot be a default; defaults may set blueprint, "
        "severity, "
        "for, keep_firing_for, labels, enabled",
        "checkout.bad-defaults.yaml:10:1 alerts is not a known section; expected one of defaults, rules, "
        "destinations",
    ]


def test_broken_yaml_is_located() -> None:
    assert problems_of("checkout.bad-syntax.yaml") == [
        "checkout.bad-syntax.yaml:5:1 is not valid YAML: while parsing a flow sequence: expected ',' or ']', "
        "but got '<stream end>'",
    ]


def test_a_rule_id_may_be_defined_only_once() -> None:
    assert problems_of("checkout.bad-duplicate.yaml") == [
        "checkout.bad-duplicate.yaml:7:9 rules[1].id 'checkout-failing' is already defined at "
        "checkout.bad-duplicate.yaml:2",
    ]


def test_destinations_are_checked_like_rules() -> None:
    assert problems_of("checkout.bad-destinations.yaml") == [
        "checkout.bad-destinations.yaml:4:10 destinations[0].url 'ftp://hooks.example.com' must be an "
        "http:// or "
        "https:// URL",
        "checkout.bad-destinations.yaml:5:5 destinations[1].from is required",
        "checkout.bad-destinations.yaml:8:9 destinations[1].to must not be empty",
        "checkout.bad-destinations.yaml:9:5 destinations[2] must name exactly one of url, url_env",
        "checkout.bad-destinations.yaml:12:11 destinations[3].kind 'pagerduty' is not one of webhook, "
        "slack, email, "
        "alertmanager",
    ]


def test_yaml_aliases_are_refused_before_anything_is_expanded() -> None:
    assert problems_of("checkout.bad-alias.yaml") == [
        "checkout.bad-alias.yaml:9:13 uses the YAML alias *team; aliases are not allowed here: "
        "write the value out",
    ]


def test_yaml_tags_are_refused_and_nothing_runs() -> None:
    assert problems_of("checkout.bad-tag.yaml") == [
        "checkout.bad-tag.yaml:2:5 uses the YAML tag tag:yaml.org,2002:python/object/apply:os.system; "
        "only plain values are allowed",
    ]


def test_a_directory_reports_the_problems_of_every_file(tmp_path: Path) -> None:
    for name in ("checkout.bad-kind.yaml", "checkout.bad-target.yaml", "checkout.good.yaml"):
        (tmp_path / name).write_text((FIXTURES / name).read_text())

    with pytest.raises(RulesInvalid) as caught:
        load_rules([tmp_path])

    assert [p.file.rsplit("/", 1)[-1] for p in caught.value.problems] == [
        "checkout.bad-kind.yaml",
        "checkout.bad-kind.yaml",
        "checkout.bad-target.yaml",
        "checkout.bad-target.yaml",
    ]


def test_rules_are_checked_against_the_blueprints_they_watch() -> None:
    rules = load_rules_file(FIXTURES / "checkout.bad-blueprint.yaml", "checkout.bad-blueprint.yaml")

    assert [str(p) for p in check_rules(rules, graphs())] == [
        "checkout.bad-blueprint.yaml:6:11 rules[0].step 'chekout' is not a step of online-order; steps: "
        "search, "
        "product, review-cart, checkout, payment, order-confirmation, warehouse-pick, courier-delivery, "
        "delivered-notification",
        "checkout.bad-blueprint.yaml:10:16 rules[1].blueprint 'offline-order' is not a known blueprint; "
        "known: "
        "online-order, store-visit, support-line",
        "checkout.bad-blueprint.yaml:13:5 rules[2] step courier-delivery has no latency objective; give "
        "threshold_ms",
        "checkout.bad-blueprint.yaml:18:17 rules[3].touchpoint 'phone' is not a touchpoint of online-order; "
        "touchpoints: web-shop, doorstep, order-emails",
    ]


def test_the_shipped_rules_and_examples_are_valid_against_the_shipped_maps() -> None:
    for directory in (ROOT / "alerts" / "rules", ROOT / "alerts" / "rules" / "examples"):
        rules = load_rules([directory])
        assert check_rules(rules, graphs()) == []


def test_generated_rules_cover_every_objective_and_touchpoint_and_pass_the_check() -> None:
    all_graphs = graphs()
    rules = generated_rules(all_graphs.values())

    ids = set(rules.by_id())
    assert {
        "online-order.checkout.failure",
        "online-order.checkout.availability-burn-page",
        "online-order.checkout.availability-burn-ticket",
        "online-order.checkout.latency",
        "online-order.warehouse-pick.bottleneck",
        "online-order.web-shop.dark",
        "online-order.conformance",
        "online-order.drop-off",
    } <= ids
    assert "online-order.courier-delivery.latency" not in ids  # no latency objective there
    assert isinstance(rules.by_id()["store-visit.mobile-app.dark"], DarkRule)
    assert check_rules(rules, all_graphs) == []


@given(st.integers(min_value=0, max_value=10 * 86400))
def test_durations_read_back_what_they_write(seconds: int) -> None:
    span = timedelta(seconds=seconds)
    assert parse_duration(format_duration(span)) == span


@pytest.mark.parametrize("text", ["", "5", "5 m", "m5", "1h-5m", "five minutes"])
def test_durations_without_units_or_with_junk_are_refused(text: str) -> None:
    if text == "5":
        assert parse_duration(5) == timedelta(seconds=5)  # a YAML number is seconds
    with pytest.raises(ValueError, match="is not a duration: expected e.g. 90s, 5m, 1h30m, 3d"):
        parse_duration(text)
