"""End to end over the real broker: `helved run` (a child process, recovery on), the OS bridge
with the emulator, dagpenger decisions in, statuses, Oppdrag, receipts and payments out.

Every wait is bounded; nothing here asserts a wall-clock time.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from helved.demo import Example, decision, examples, meldeperiode, send_examples
from helved.devstack import Stack
from helved.emulator import parse_oppdrag
from helved.kafka import EmbeddedBroker
from helved.kafka.consumer import read_all
from helved.os.bridge import HOS_OPPDRAG
from helved.os.payments import payment_rows

from .e2e import (
    Watch,
    assert_as_without_crashes,
    executions,
    fresh_settings,
    restart_inputs,
    send,
    wait_for_a_snapshot,
    wait_for_run,
    wait_for_the_bridge,
    wave,
)

pytestmark = pytest.mark.integration

# ---------------------------------------------------------------------------------------------
# The dagpenger scenarios (the demo's examples), one stack for the module


@pytest.fixture(scope="module")
def scenario(
    broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Stack, Watch, list[Example]]]:
    settings = fresh_settings(broker, "e2e-scenarios")
    with Stack(settings, tmp_path_factory.mktemp("scenarios")) as stack:
        topics = stack.settings.topics
        watch = Watch(stack, [topics.status, topics.dlq])
        chosen = examples(stack.settings.partitions)
        send_examples(stack.settings, chosen)
        watch.until(lambda: watch.all_final([ex.key for ex in chosen]), "every example's final status")
        watch.until(lambda: any(r.topic == topics.dlq for r in watch.records), "the DLQ record")
        try:
            yield stack, watch, chosen
        finally:
            watch.close()


def test_new_sak_is_mottatt_then_hos_oppdrag_then_ok(scenario: tuple[Stack, Watch, list[Example]]) -> None:
    stack, watch, chosen = scenario
    ny = chosen[0]
    assert watch.log.sequence(ny.key) == ["MOTTATT", "HOS_OPPDRAG", "OK"]
    mottatt = watch.log.by_key[ny.key][0]
    assert [(ln["fom"], ln["tom"], ln["beløp"]) for ln in mottatt["detaljer"]["linjer"]] == [
        ("2025-08-04", "2025-08-06", 1000),
        ("2025-08-07", "2025-08-07", 700),
        ("2025-08-08", "2025-08-15", 1000),
    ]
    # HOS_OPPDRAG as the bridge writes it: exact bytes, fagsystem header, the request's key.
    hos = [r for r in watch.records if r.key == ny.key and r.value == HOS_OPPDRAG]
    assert len(hos) == 1 and hos[0].header("fagsystem") == b"DAGPENGER"
    assert hos[0].header("src-topic") == stack.settings.topics.oppdrag.encode()


def test_a_change_sent_behind_waits_for_the_receipt_and_goes_out_as_endr(
    scenario: tuple[Stack, Watch, list[Example]],
) -> None:
    stack, watch, chosen = scenario
    ny, endring = chosen[0], chosen[1]
    assert watch.log.sequence(endring.key) == ["MOTTATT", "MOTTATT", "HOS_OPPDRAG", "OK"]
    assert watch.log.by_key[endring.key][0]["detaljer"] is None  # waiting behind the in-flight Oppdrag
    oppdrag = {
        r.key: parse_oppdrag(r.value) for r in read_all(stack.settings, [stack.settings.topics.oppdrag]) if r.value
    }
    assert oppdrag[ny.key].kode_endring == "NY"
    assert oppdrag[endring.key].kode_endring == "ENDR"
    # What OS pays: 4-15 Aug and 18-29 Aug at 1000 a weekday, except 25 Aug.
    rows = payment_rows(stack.os.paid("DP", "SAK-1001"))
    assert sum(r.total for r in rows) == 19 * 1000
    assert {r.per_day for r in rows} == {1000}


def test_a_stop_stops_every_utbetaling_of_the_sak(scenario: tuple[Stack, Watch, list[Example]]) -> None:
    stack, watch, chosen = scenario
    ny, stans = chosen[2], chosen[3]
    assert watch.log.sequence(ny.key) == ["MOTTATT", "HOS_OPPDRAG", "OK"]
    assert watch.log.sequence(stans.key) == ["MOTTATT", "MOTTATT", "HOS_OPPDRAG", "OK"]
    oppdrag = {
        r.key: parse_oppdrag(r.value) for r in read_all(stack.settings, [stack.settings.topics.oppdrag]) if r.value
    }
    assert all(linje.is_opphor for linje in oppdrag[stans.key].linjer) and len(oppdrag[stans.key].linjer) == 2
    assert stack.os.paid("DP", "SAK-1005") == {}
    saker = [
        r for r in read_all(stack.settings, [stack.settings.topics.saker]) if b"SAK-1005" in (r.key or "").encode()
    ]
    assert orjson.loads(saker[-1].value or b"null") == []  # has had payments, none active


def test_invalid_input_is_feilet_and_goes_to_the_dlq(scenario: tuple[Stack, Watch, list[Example]]) -> None:
    stack, watch, chosen = scenario
    ugyldig = chosen[4]
    assert watch.log.sequence(ugyldig.key) == ["FEILET"]
    error = watch.log.by_key[ugyldig.key][0]["error"]
    assert error["statusCode"] == 400 and error["msg"].startswith("SAKSBEHANDLER_LENGTH")
    (dead,) = [r for r in watch.records if r.topic == stack.settings.topics.dlq]
    assert dead.key == ugyldig.key and dead.value == orjson.dumps(ugyldig.decision)
    assert b"SAKSBEHANDLER_LENGTH" in (dead.header("error") or b"")


def test_every_oppdrag_was_handed_over_once_and_answered_once(
    scenario: tuple[Stack, Watch, list[Example]],
) -> None:
    stack, _, _ = scenario
    topics = stack.settings.topics
    oppdrag = read_all(stack.settings, [topics.oppdrag])
    receipts = read_all(stack.settings, [topics.kvittering])
    # dagpenger: 4 (the invalid one sends none); AAP, TP, historisk, valp: 1 each; TS: 2 (two fagområder)
    assert len(oppdrag) == 10 and len({r.value for r in oppdrag}) == 10
    assert len(receipts) == 10 and {r.key for r in receipts} == {r.key for r in oppdrag}
    assert [reply.replay for reply in stack.os.replies] == [False] * 10


# -- the CLI against the same stack --------------------------------------------------------------


@pytest.fixture
def cli_env(scenario: tuple[Stack, Watch, list[Example]], monkeypatch: pytest.MonkeyPatch) -> Stack:
    stack = scenario[0]
    monkeypatch.setenv("HELVED_BOOTSTRAP_SERVERS", stack.settings.bootstrap_servers)
    monkeypatch.setenv("HELVED_TOPIC_PREFIX", stack.settings.topic_prefix)
    monkeypatch.delenv("HELVED_OS_STATE_DIR", raising=False)
    return stack


def test_cli_status_shows_a_requests_statuses(cli_env: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    from helved.cli import main

    assert main(["status", "dp-1001-1", "--timeout", "10"]) == 0
    human = capsys.readouterr().out
    assert [line.split()[1] for line in human.splitlines()] == ["MOTTATT", "HOS_OPPDRAG", "OK"]
    assert main(["status", "dp-1013-1", "--timeout", "10", "--json"]) == 1  # FEILET
    (line,) = capsys.readouterr().out.splitlines()
    assert orjson.loads(line)["status"] == "FEILET"
    assert main(["status", "no-such-key", "--timeout", "1"]) == 3
    assert "no final status for no-such-key" in capsys.readouterr().err


def test_cli_sak_shows_confirmed_utbetalinger_and_what_os_pays_without_idents(
    cli_env: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    from helved.cli import main

    state = str(cli_env.os_state_dir)
    assert main(["sak", "SAK-1001", "--os-state", state, "--json"]) == 0
    out = capsys.readouterr().out
    assert "12345678910" not in out
    sak = orjson.loads(out)
    assert len(sak["activeUids"]) == 2 and len(sak["utbetalinger"]) == 2
    assert sum(row["total"] for row in sak["osPays"]) == 19000
    assert main(["sak", "SAK-1001", "--os-state", state]) == 0
    human = capsys.readouterr().out
    assert "12345678910" not in human
    assert "2 active utbetaling(er)" in human and "19000" in human
    assert main(["sak", "SAK-1005"]) == 0
    assert "0 active" in capsys.readouterr().out
    assert main(["sak", "SAK-NOPE"]) == 1


def test_cli_send_then_wait_for_ok(cli_env: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from helved.cli import main

    path = tmp_path / "decision.json"
    path.write_bytes(orjson.dumps(decision("SAK-2001", "B-1", "2025-09-01T08:00:00", meldeperiode("2025-08-18"))))
    assert main(["send", str(path), "--key", "cli-1", "--wait", "20"]) == 0
    out = capsys.readouterr().out
    assert "sent cli-1" in out and out.rstrip().endswith("done")
    assert "12345678910" not in out
    assert sum(r.total for r in payment_rows(cli_env.os.paid("DP", "SAK-2001"))) == 10 * 1000
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["send", str(bad)]) == 2
    assert "is not JSON" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# kill -9 of the pipeline mid-stream


def test_kill_9_of_the_pipeline_mid_stream_loses_and_changes_nothing(broker: EmbeddedBroker, tmp_path: Path) -> None:
    settings = fresh_settings(broker, "e2e-restart")
    # A long epoch: what the pipeline wrote since its last snapshot is written again after a kill.
    with Stack(settings, tmp_path, snapshot_s=2.0) as stack:
        topics = stack.settings.topics
        inputs = restart_inputs(stack.settings)
        keys = [r.key for r in inputs if r.key is not None]
        watch = Watch(stack, [topics.status, topics.oppdrag])
        try:

            def crash_and_restart() -> None:
                assert stack.pipeline is not None
                runs = len(executions(stack.recovery_dir))
                stack.pipeline.kill()  # SIGKILL: no goodbye
                stack.start_pipeline()  # the same recovery directory
                wait_for_run(stack, runs + 1)

            wave_1 = wave(inputs, 1)
            send(stack.settings, wave_1)
            watch.until(lambda: watch.oks(keys) >= 1, "a first OK")
            crash_and_restart()
            watch.until(lambda: watch.all_final([r.key for r in wave_1 if r.key]), "wave 1 final after the restart")
            wait_for_a_snapshot(stack)  # the second restart resumes from a snapshot, not from the start
            later = [r for r in inputs if r not in wave_1]
            send(stack.settings, later)
            # Killed the moment a first Oppdrag of wave 2 is out: the restart writes it again.
            watch.until(lambda: watch.sent_to_os([r.key for r in later if r.key]) >= 1, "a first Oppdrag of wave 2")
            crash_and_restart()
            watch.until(lambda: watch.all_final(keys), "every final status after the second restart")
            wait_for_the_bridge(stack)
        finally:
            watch.close()
        oppdrag = assert_as_without_crashes(stack, watch, inputs)
        runs = executions(stack.recovery_dir)
    assert len(runs) == 3 and runs[1][1] < runs[2][1], runs
    assert len(oppdrag) > 24, "no Oppdrag was emitted again: the kills came too late to test a replay"
