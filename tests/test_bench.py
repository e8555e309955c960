"""`helved bench`: it completes, its JSON holds every figure with sane values, and its traffic and
in-process loop are what the figures claim. No wall-clock threshold is asserted anywhere."""

from __future__ import annotations

import orjson
import pytest

from helved.bench.floor import run_floor
from helved.bench.inprocess import EchoOs, run_inprocess
from helved.bench.traffic import Profile, histories, rounds
from helved.cli import main
from helved.oppdrag.xml import parse_kvittering


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    assert main(["bench", "--smoke", "--json", str(out)]) == 0
    return orjson.loads(out.read_bytes())


def test_smoke_run_writes_every_figure(smoke):
    assert smoke["machine"]["nproc"] >= 1
    assert smoke["machine"]["bytewax"] == "0.21.1"
    t = smoke["traffic"]
    assert t["requests"] > 0 and t["meldeperioder_per_request"] > 1 and t["bytes_per_request"] > 0

    floor = smoke["floor"]
    for key in ("requests_per_s", "lines_per_s", "peak_rss_mib"):
        assert floor[key] > 0
    assert all(v > 0 for v in floor["us_per_request"].values())
    assert floor["rejected"] == 0

    ip = smoke["inprocess"]
    main_phase = ip["phases"]["main"]
    assert main_phase["requests"] == t["requests"]
    assert main_phase["requests_per_s"] > 0 and main_phase["lines_per_s"] > 0
    assert main_phase["oppdrag"] == main_phase["receipts"] == t["requests_with_oppdrag"]
    assert main_phase["lines"] == floor["lines"]  # the dataflow sends exactly the floor's lines
    assert main_phase["feilet"] == main_phase["waited"] == main_phase["rejected_by_os"] == 0
    assert ip["peak_rss_mib"] > 0 and ip["ratio_to_floor"] > 0
    state = ip["state"]
    assert state["saker"] == smoke["config"]["saker"]
    assert 0 < state["active_uids"] <= state["uids"]
    assert state["bytes_per_active_uid"] > 0 and state["snapshot_rows_kept"] >= state["saker"]

    assert [s["workers"] for s in smoke["scaling"]] == [1, 2]
    assert all(s["requests_per_s_wall"] > 0 and s["cpu_us_per_request"] > 0 for s in smoke["scaling"])

    hist = smoke["history"]
    assert sorted({r["earlier_decisions"] for r in hist}) == [1, 10, 100]
    for r in hist:
        assert r["floor_us_per_request"] > 0 and r["inprocess_us_per_request"] > 0
        assert r["floor_us_per_meldeperiode"] > 0 and r["inprocess_us_per_meldeperiode"] > 0
    growing = {r["earlier_decisions"]: r["meldeperioder_per_request"] for r in hist if r["window"] is None}
    assert growing[1] == 2.0 and growing[10] == 11.0 and 101.0 <= growing[100] <= 111.0  # the whole sak
    assert {r["meldeperioder_per_request"] for r in hist if r["window"] is not None} == {smoke["config"]["window"]}

    names = [x["target"] for x in smoke["targets"]]
    assert len(names) == 8 and all(isinstance(x["met"], bool) for x in smoke["targets"])
    assert any(n.startswith("cost follows the change") for n in names)
    assert any(n.startswith("snapshot cost per sak") for n in names)
    # the bench loop's own bookkeeping is taken out of the pipeline's CPU, like traffic and OS
    main_phase = smoke["inprocess"]["phases"]["main"]
    assert main_phase["excluded_cpu_s"]["loop"] >= 0.0


def test_smoke_prints_the_table(capsys):
    assert main(["bench", "--smoke", "--sections", "floor,inprocess"]) == 0
    out = capsys.readouterr().out
    assert "floor (parse+diff+xml)" in out and "inprocess (1 worker" in out and "target" in out


def test_traffic_is_seeded_and_independent_of_interleaving():
    a = [d.record.value for d in rounds(histories(5, seed=3), 6)]
    hs = histories(5, seed=3)
    by_sak = {h.index: [h.next_decision().record.value for _ in range(6)] for h in reversed(hs)}
    b = [by_sak[i][k] for k in range(6) for i in range(5)]
    assert a == b
    assert a != [d.record.value for d in rounds(histories(5, seed=4), 6)]


def test_every_message_holds_the_whole_sak():
    (h,) = histories(1, seed=1)
    for k in range(12):
        d = h.next_decision()
        msg = orjson.loads(d.record.value)
        assert len({u["meldeperiode"] for u in msg["utbetalinger"] if u["utbetalingstype"] == "Dagpenger"}) == k + 1
        assert d.meldeperioder == k + 1 and len(msg["utbetalinger"]) == d.days


def test_traffic_gives_creates_updates_and_opphør_in_realistic_proportions():
    r = run_floor(rounds(histories(60, seed=1), 19))
    assert r.rejected == 0
    assert r.actions["CREATE"] > r.actions["UPDATE"] > r.actions["DELETE"] > 0
    assert r.line_kinds["OPPH"] > 0 and r.line_kinds["NY chained"] > 0
    assert 9 <= r.meldeperioder / r.requests <= 11


def test_fixed_window_keeps_the_message_size():
    (h,) = histories(1, seed=1, profile=Profile(window=5))
    assert {h.next_decision().meldeperioder for _ in range(20)} == {5}


def test_echo_os_answers_with_an_accepting_kvittering():
    from helved.bench.floor import plan_all
    from helved.oppdrag.xml import oppdrag_xml

    oppdrag = next(o for o in plan_all(rounds(histories(1, seed=1), 1)) if o is not None)
    (kv,) = EchoOs()(oppdrag_xml(oppdrag))
    read = parse_kvittering(kv)
    assert read.alvorlighetsgrad == "00" and read.delytelse_ids == oppdrag.delytelse_ids


@pytest.mark.parametrize("workers", [1, 2])
def test_the_loop_answers_every_oppdrag_before_the_saks_next_request(workers):
    run = run_inprocess(histories(6, seed=2), [("warm-up", 3), ("timed", 2)], workers=workers, batch=4)
    assert [p.name for p in run.phases] == ["warm-up", "timed"]
    for p in run.phases:
        assert p.requests == 6 * p.decisions_per_sak
        assert p.waited == 0  # no request ever found its sak with an Oppdrag in flight
        assert p.feilet == p.rejected_by_os == 0
        assert p.receipts == p.oppdrag > 0
        assert p.ended >= p.started
    assert run.state.saker == 6 and run.state.active_uids > 0


@pytest.mark.integration
def test_broker_section_runs_end_to_end_over_the_embedded_broker():
    import dataclasses

    from helved.bench.broker import broker_available, section_broker
    from helved.bench.run import SMOKE

    if broker_available() is not None:
        pytest.skip(broker_available())
    cfg = dataclasses.replace(SMOKE, broker_saker=8, broker_decisions=3, snapshot_s=1.0)
    res = section_broker(cfg)
    assert res["requests"] == 24 and res["feilet"] == 0
    assert res["oppdrag"] == 24 and res["lines"] >= 24
    assert res["requests_per_s"] > 0 and res["latency_ms"]["median"] > 0
    assert res["peak_rss_mib"] > 0 and res["children_peak_rss_mib"] > 0
    # The same traffic through a cluster of two `helved run` processes: the same Oppdrag bytes and
    # final statuses (the digest covers both), whichever process owned which sak.
    two = section_broker(cfg, processes=2)
    assert (two["processes"], two["requests"], two["oppdrag"], two["lines"]) == (2, 24, 24, res["lines"])
    assert two["outputs_digest"] == res["outputs_digest"]
    assert len(two["cores_busy"]["pipeline"]) == 2 and len(res["cores_busy"]["pipeline"]) == 1
    assert all(x is None or x >= 0 for x in two["cores_busy"]["pipeline"])


@pytest.mark.integration
def test_drain_works_off_a_backlog_with_one_and_two_processes_alike():
    import dataclasses

    from helved.bench.broker import section_drain
    from helved.bench.run import SMOKE

    cfg = dataclasses.replace(SMOKE, drain_saker=40, snapshot_s=1.0)
    one = section_drain(cfg)
    two = section_drain(cfg, processes=2)
    for res in (one, two):
        assert res["requests"] == 40 and res["oppdrag"] == 40
        assert res["lines"] >= 40 and res["requests_per_s"] > 0
    assert len(two["cores_busy"]["pipeline"]) == 2
    assert two["outputs_digest"] == one["outputs_digest"]


def test_the_output_digest_ignores_order_but_not_content():
    from helved.bench.broker import digest

    assert digest([b"a", b"bc"]) == digest([b"bc", b"a"])
    assert digest([b"a", b"bc"]) != digest([b"ab", b"c"])
    assert digest([b"a"]) != digest([b"a", b"a"])


@pytest.mark.integration
def test_openloop_section_sends_on_schedule_and_measures_every_decision():
    """The open-loop section over the embedded broker, with OS in its own process: every
    decision offered becomes final, latencies and the CPU of every process are reported, and
    the curve lands in the targets and the printed table."""
    import dataclasses

    from helved.bench.openloop import section_openloop
    from helved.bench.report import render
    from helved.bench.run import SMOKE, targets

    cfg = dataclasses.replace(SMOKE, snapshot_s=1.0)
    res = section_openloop(cfg, rates=(20.0, 40.0), duration_s=1.0, os_kind="emulator")
    assert [st["offered_per_s"] for st in res["steps"]] == [20.0, 40.0]
    for st in res["steps"]:
        assert st["decisions"] == st["offered_per_s"] * 1.0
        assert st["final"] == st["decisions"]  # every decision reached OK or FEILET
        lat = st["latency_ms"]
        assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
        assert set(st["cores_busy"]) == {"pipeline", "broker", "os", "load_generator"}
        assert st["cores_busy"]["os"] is not None and st["cores_busy"]["os"] > 0  # OS did the work, elsewhere
    assert res["max_sustained_per_s"] in (0.0, 20.0, 40.0)
    full = {
        "machine": {"nproc": 2, "python": "3", "bytewax": "0", "loadavg_at_start": [0.0]},
        "config": dataclasses.asdict(cfg),
        "openloop": [res],
    }
    rows = [t["target"] for t in targets(full)]
    assert any("open loop (OS emulator)" in r for r in rows)
    assert "offered/s" in render(full)
