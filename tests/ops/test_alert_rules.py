"""The alert rules (k8s/base/prometheus-rules.yaml): a structural check of the PrometheusRule
always; with promtool (Debian's `prometheus` package; `.ci/run` installs it and sets
HELVED_REQUIRE_PROMTOOL=1, so CI cannot skip) `promtool check rules`, and `promtool test rules`
replaying k8s/alert-tests.yaml, a recorded series for each alert and its near miss."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from helved import metrics

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "k8s" / "base" / "prometheus-rules.yaml"
TESTS = ROOT / "k8s" / "alert-tests.yaml"
ALERTS = {
    "HelvedReceiptMissing",
    "HelvedFeiletRate",
    "HelvedDlqGrowing",
    "HelvedRestoredState",
    "HelvedConsumerLag",
    "HelvedAvstemmingNotRun",
    "HelvedSuspectedDoublePayment",
}


def rule_spec() -> dict:
    doc = yaml.safe_load(RULES.read_text())
    assert doc["apiVersion"] == "monitoring.coreos.com/v1" and doc["kind"] == "PrometheusRule"
    return doc["spec"]


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("HELVED_REQUIRE_PROMTOOL") == "1":
            pytest.fail("promtool is required here (HELVED_REQUIRE_PROMTOOL=1) but not installed")
        pytest.skip("promtool not installed (apt-get install prometheus); the structural check still ran")
    return found


def test_the_rules_are_well_formed_and_use_only_helveds_metrics():
    spec = rule_spec()
    rules = [r for g in spec["groups"] for r in g["rules"]]
    assert {r["alert"] for r in rules} == ALERTS
    known = {m for m in re.findall(r"`(helved_\w+)`", metrics.__doc__ or "")}
    for r in rules:
        assert set(r) <= {"alert", "expr", "for", "labels", "annotations", "keep_firing_for"}, r["alert"]
        assert r["labels"]["severity"] in ("critical", "warning")
        assert r["annotations"]["summary"] and r["annotations"]["description"]
        if "for" in r:
            assert re.fullmatch(r"\d+[smh]", r["for"])
        used = set(re.findall(r"\b(helved_[a-z_]+)", r["expr"]))
        assert used and used <= known, f"{r['alert']} uses metrics helved does not export: {used - known}"
        # Balanced brackets: a cheap stand-in for a parser when promtool is absent.
        for a, b in ("()", "[]", "{}"):
            assert r["expr"].count(a) == r["expr"].count(b), r["alert"]
    # Every alert has a recorded series in the promtool tests.
    tested = {t["alertname"] for case in yaml.safe_load(TESTS.read_text())["tests"] for t in case["alert_rule_test"]}
    assert tested == ALERTS


def test_promtool_checks_and_tests_the_rules(tmp_path):
    tool = promtool()
    (tmp_path / "helved-rules.yaml").write_text(yaml.safe_dump(rule_spec(), sort_keys=False))
    shutil.copy(TESTS, tmp_path / "alert-tests.yaml")
    check = subprocess.run(
        [tool, "check", "rules", "helved-rules.yaml"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"{len(ALERTS)} rules found" in check.stdout
    test = subprocess.run(
        [tool, "test", "rules", "alert-tests.yaml"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert test.returncode == 0, test.stdout + test.stderr
    # The tests do catch a broken rule: an hour becomes two, the receipt alert stays quiet.
    broken = RULES.read_text().replace("> 3600", "> 7200")
    (tmp_path / "helved-rules.yaml").write_text(yaml.safe_dump(yaml.safe_load(broken)["spec"], sort_keys=False))
    test = subprocess.run(
        [tool, "test", "rules", "alert-tests.yaml"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert test.returncode != 0 and "HelvedReceiptMissing" in test.stdout + test.stderr


# Each rule's tests catch it firing too late and too early: (a change to the rules, the alert).
MUTATIONS = [
    (
        "sum by (topic) (helved_consumer_lag_records) > 100",
        "sum by (topic) (helved_consumer_lag_records) > 130",
        "HelvedConsumerLag",
    ),
    (
        "sum by (topic) (helved_consumer_lag_records) > 100",
        "sum by (topic) (helved_consumer_lag_records) > 80",
        "HelvedConsumerLag",
    ),
    (">= 10 * 3600", ">= 11 * 3600", "HelvedAvstemmingNotRun"),
    (">= 10 * 3600", ">= 8 * 3600", "HelvedAvstemmingNotRun"),
    ("and on() max(helved_working_day) == 1", "", "HelvedAvstemmingNotRun"),
    ("last_timestamp_seconds > 0) < 86400", "last_timestamp_seconds > 0) < 600", "HelvedSuspectedDoublePayment"),
    ("last_timestamp_seconds > 0) < 86400", "last_timestamp_seconds > 0) < 172800", "HelvedSuspectedDoublePayment"),
]


@pytest.mark.parametrize(("old", "new", "alert"), MUTATIONS)
def test_the_recorded_series_catch_a_wrong_threshold(tmp_path, old, new, alert):
    tool = promtool()
    text = RULES.read_text()
    assert text.count(old) == 1, old
    (tmp_path / "helved-rules.yaml").write_text(
        yaml.safe_dump(yaml.safe_load(text.replace(old, new))["spec"], sort_keys=False)
    )
    shutil.copy(TESTS, tmp_path / "alert-tests.yaml")
    test = subprocess.run(
        [tool, "test", "rules", "alert-tests.yaml"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert test.returncode != 0 and alert in test.stdout + test.stderr
