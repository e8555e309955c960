"""helved's metrics: counted at the output choke point (`helved.flow.encode` and the applied
receipt), checked against what a replay produced; served over HTTP, by helved
(`HELVED_METRICS_PORT`) and by Bytewax's dataflow API (`/metrics` of `python -m bytewax.run`)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections import Counter
from pathlib import Path

import orjson
import pytest
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from helved import metrics
from helved.config import Topics
from helved.replay import os_stand_in, parse_codes, read_records, replay_records
from tests.ops import scenario

ROOT = Path(__file__).resolve().parents[2]
TOPICS = Topics()


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def snapshot() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in REGISTRY.collect():
        if family.name.startswith("helved_"):
            for s in family.samples:
                out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def delta(before, after, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_replay_counts_what_it_produced():
    records = read_records(scenario.lines(), TOPICS)
    answer, simulate = os_stand_in(parse_codes(scenario.KVITTERING), TOPICS)
    before = snapshot()
    outputs = replay_records(records, answer, TOPICS, simulate)
    after = snapshot()

    # The numbers, from the outputs themselves ...
    # A dryrun's final status is OS's answer (the bridge's, here the replay's stand-in), not the
    # pipeline's: the pipeline counts what it produces.
    simulated = {r.key for r in outputs if r.topic == TOPICS.simuleringer}
    statuses = Counter(
        (dict(r.headers)["fagsystem"].decode(), value["status"])
        for r in outputs
        if r.topic == TOPICS.status
        and not ((value := orjson.loads(r.value))["simulering"] and r.key in simulated and value["status"] != "MOTTATT")
    )
    dlq = Counter(dict(r.headers)["error"].decode().split(":")[0] for r in outputs if r.topic == TOPICS.dlq)
    oppdrag = [r for r in outputs if r.topic == TOPICS.oppdrag]
    lines = sum(len(re.findall(rb"<(?:\w+:)?oppdrags-linje-150>", r.value)) for r in oppdrag)
    for (fagsystem, status), n in statuses.items():
        assert delta(before, after, "helved_statuses_total", fagsystem=fagsystem, status=status) == n, status
    for reason, n in dlq.items():
        assert delta(before, after, "helved_dlq_total", reason=reason) == n, reason
    assert delta(before, after, "helved_oppdrag_total", fagsystem="DAGPENGER") == len(oppdrag)
    assert delta(before, after, "helved_oppdrag_lines_total", fagsystem="DAGPENGER") == lines
    assert delta(before, after, "helved_simuleringer_total", fagsystem="DAGPENGER") == sum(
        r.topic == TOPICS.simuleringer for r in outputs
    )

    # ... and as the scenario says: two Oppdrag answered 00 and 08, one dryrun, three rejections.
    assert statuses == {("DAGPENGER", "MOTTATT"): 2, ("DAGPENGER", "OK"): 1, ("DAGPENGER", "FEILET"): 2}
    assert dlq == {"SAKSBEHANDLER_LENGTH": 1, "MISSING_KEY": 1, "NOT_A_RECEIPT": 1}
    assert len(oppdrag) == 2 and lines >= 2
    assert delta(before, after, "helved_simuleringer_total", fagsystem="DAGPENGER") == 1
    assert delta(before, after, "helved_kvitteringer_total", alvorlighetsgrad="00") == 1
    assert delta(before, after, "helved_kvitteringer_total", alvorlighetsgrad="08") == 1
    assert delta(before, after, "helved_kvittering_latency_seconds_count") == 2
    # Both Oppdrag were answered: nothing of this replay is left in flight.
    assert delta(before, after, "helved_oppdrag_in_flight") == 0


def test_in_flight_and_the_oldest_follow_oppdrag_and_receipts():
    m = metrics.Metrics(CollectorRegistry())
    value = lambda name: m.registry.get_sample_value(name) or 0.0  # noqa: E731
    assert value("helved_oppdrag_in_flight") == 0 and value("helved_oppdrag_oldest_in_flight_timestamp_seconds") == 0
    t0 = time.time()
    m.oppdrag_sent("sak-1", "DAGPENGER", 3)
    m.resumed("sak-2")
    m.resumed("sak-1")  # already known: keeps its send time
    assert value("helved_oppdrag_in_flight") == 2
    assert t0 <= value("helved_oppdrag_oldest_in_flight_timestamp_seconds") <= time.time()
    m.receipt_applied("sak-1", "00")
    m.receipt_applied("sak-2", "04")
    assert value("helved_oppdrag_in_flight") == 0
    assert m.registry.get_sample_value("helved_kvittering_latency_seconds_count") == 2
    assert m.registry.get_sample_value("helved_oppdrag_lines_total", {"fagsystem": "DAGPENGER"}) == 3
    m.restored_states(5, new_recovery_dir=True)
    m.restored_states(0, new_recovery_dir=True)
    assert value("helved_restored_states_total") == 5 and value("helved_restore_with_new_recovery_dir_total") == 1


def test_label_children_are_bound_once():
    m = metrics.Metrics(CollectorRegistry())
    m.status("DAGPENGER", "OK")
    children = dict(m._children)
    for _ in range(100):
        m.status("DAGPENGER", "OK")
        m.dead_letter("MISSING_KEY")
    assert len(m._children) == len(children) + 1
    assert m.registry.get_sample_value("helved_statuses_total", {"fagsystem": "DAGPENGER", "status": "OK"}) == 101


def test_the_port_setting():
    assert metrics.port_from_env({}) == 9464
    assert metrics.port_from_env({"HELVED_METRICS_PORT": "0"}) == 0
    for bad in ("x", "-1", "70000"):
        with pytest.raises(ValueError, match="HELVED_METRICS_PORT"):
            metrics.port_from_env({"HELVED_METRICS_PORT": bad})
    assert metrics.serve(0) is None
    assert metrics.metrics_url({"BYTEWAX_DATAFLOW_API_ENABLED": "true"}) == "http://127.0.0.1:3030/metrics"
    assert metrics.metrics_url({"HELVED_METRICS_PORT": "9500"}) == "http://127.0.0.1:9500/metrics"


def scrape(url: str) -> dict[str, list]:
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def test_helved_serves_its_metrics_over_http():
    metrics.METRICS.dead_letter("SCRAPE_TEST")
    port = metrics.serve(free_port())
    assert port is not None
    families = scrape(f"http://127.0.0.1:{port}/metrics")
    assert {
        "helved_statuses",
        "helved_oppdrag",
        "helved_dlq",
        "helved_kvitteringer",
        "helved_kvittering_latency_seconds",
        "helved_oppdrag_in_flight",
        "helved_oppdrag_oldest_in_flight_timestamp_seconds",
        "helved_restored_states",
        "helved_bridge_oppdrag",
        "helved_consumer_lag_records",
        "helved_ready",
        "helved_working_day",
        "helved_oslo_day_start_timestamp_seconds",
        "helved_suspected_double_payments",
        "helved_suspected_double_payment_last_timestamp_seconds",
    } <= set(families)
    assert any(s.labels == {"reason": "SCRAPE_TEST"} and s.value >= 1 for s in families["helved_dlq"])
    # The image's HEALTHCHECK.
    assert metrics.main(["--check", "--url", f"http://127.0.0.1:{port}/metrics"]) == 0
    assert metrics.main(["--check", "--url", f"http://127.0.0.1:{free_port()}/metrics"]) == 1
    # A port already taken is a warning, never a crash.
    assert metrics.serve(port) is None


FLOW = textwrap.dedent(
    """
    import time
    from datetime import datetime, timezone
    import bytewax.operators as op
    from bytewax.dataflow import Dataflow
    from bytewax.inputs import SimplePollingSource
    from helved.metrics import METRICS

    class Tick(SimplePollingSource):
        def next_item(self):
            return 1

    def count(x):
        METRICS.dead_letter("FROM_THE_FLOW")
        return x

    flow = Dataflow("metrics-probe")
    op.inspect("sink", op.map("count", op.input("in", flow, Tick(interval=__import__("datetime").timedelta(seconds=0.2))), count), lambda *a: None)
    """
)


def test_bytewax_serves_helveds_metrics_on_its_dataflow_api(tmp_path):
    """`python -m bytewax.run` (the pipeline's container) with BYTEWAX_DATAFLOW_API_ENABLED:
    helved's counters are on Bytewax's own /metrics, next to its `bytewax_*` ones."""
    (tmp_path / "probe_flow.py").write_text(FLOW)
    port = free_port()
    env = dict(
        os.environ,
        BYTEWAX_DATAFLOW_API_ENABLED="true",
        BYTEWAX_DATAFLOW_API_PORT=str(port),
        BYTEWAX_DATAFLOW_API_CACHE_PATH=str(tmp_path),
        PYTHONPATH=str(ROOT),
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "bytewax.run", "probe_flow:flow"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                families = scrape(f"http://127.0.0.1:{port}/metrics")
                counted = [s.value for s in families.get("helved_dlq", []) if s.labels == {"reason": "FROM_THE_FLOW"}]
                if counted and counted[0] >= 2:
                    break
            except OSError:
                pass
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:] if proc.stderr else ""
            assert time.monotonic() < deadline, "no helved metrics on Bytewax's /metrics"
            time.sleep(0.2)
        assert any(name.startswith("bytewax_") for name in families), sorted(families)
        assert "helved_oppdrag_in_flight" in families
    finally:
        proc.kill()
        proc.wait()
