"""The broker-facing commands without a broker: discovery, configuration errors, pure helpers."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import orjson
import pytest

from helved.cli import build_parser, main
from helved.config import Settings
from helved.demo import examples, meldeperiode
from helved.emulator import PaidMap
from helved.kafka.partitioner import key_in_same_partition, partition_for
from helved.os.payments import payment_rows
from helved.records import InRecord
from helved.startup import RecoveryDirError, prepare_recovery_dir, settings_env
from helved.views.sak import without_ident
from helved.views.status import StatusLog, describe_status


def test_every_command_is_discovered() -> None:
    commands = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert {"run", "demo", "topics", "send", "status", "sak", "os-emulator", "replay"} <= set(commands or {})


@pytest.mark.parametrize("argv", [["run"], ["status", "k"], ["sak", "S"], ["topics", "check"]])
def test_commands_that_need_a_broker_say_so_when_none_is_configured(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("HELVED_BOOTSTRAP_SERVERS", raising=False)
    assert main(argv) == 2
    assert "HELVED_BOOTSTRAP_SERVERS is not set" in capsys.readouterr().err


def test_send_refuses_a_file_that_is_not_json_before_connecting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "x.json"
    bad.write_text("nope")
    assert main(["send", str(bad)]) == 2
    assert "is not JSON" in capsys.readouterr().err
    assert main(["send", str(tmp_path / "missing.json")]) == 2


def test_os_emulator_needs_a_state_dir(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("HELVED_OS_STATE_DIR", raising=False)
    assert main(["os-emulator"]) == 2
    assert "--state-dir" in capsys.readouterr().err


def test_the_recovery_dir_is_initialised_once_and_bound_to_its_topics(tmp_path: Path) -> None:
    settings = Settings(bootstrap_servers="x:1", topic_prefix="a.")
    path = tmp_path / "recovery"
    assert prepare_recovery_dir(path, settings) is True
    assert sorted(p.name for p in path.iterdir()) == ["helved-recovery.json", "part-0.sqlite3"]
    assert prepare_recovery_dir(path, settings) is False  # resumes
    with pytest.raises(RecoveryDirError, match="was made for"):
        prepare_recovery_dir(path, dataclasses.replace(settings, topic_prefix="b."))
    with pytest.raises(RecoveryDirError, match="was made for"):
        prepare_recovery_dir(path, dataclasses.replace(settings, partitions=4))
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "file").write_text("x")
    with pytest.raises(RecoveryDirError, match="not empty"):
        prepare_recovery_dir(tmp_path / "junk", settings)


def test_in_a_cluster_only_process_0_creates_the_recovery_partitions(tmp_path: Path) -> None:
    cluster = Settings(bootstrap_servers="x:1", addresses=("a:1", "b:1"), workers=2)
    shared = tmp_path / "shared"
    # Process 1 first (it may win the race on one machine): an empty directory, no partitions.
    assert prepare_recovery_dir(shared, dataclasses.replace(cluster, process_id=1)) is False
    assert list(shared.iterdir()) == []
    # Process 0 creates one partition per worker of the cluster, into the same directory.
    assert prepare_recovery_dir(shared, cluster) is True
    assert sorted(p.name for p in shared.glob("part-*.sqlite3")) == [f"part-{i}.sqlite3" for i in range(4)]
    # On a restart process 1 finds them and checks they belong to these topics.
    assert prepare_recovery_dir(shared, dataclasses.replace(cluster, process_id=1)) is False
    with pytest.raises(RecoveryDirError, match="was made for"):
        prepare_recovery_dir(shared, dataclasses.replace(cluster, process_id=1, topic_prefix="other."))


def test_run_takes_the_cluster_options(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import helved.startup

    seen: list[Settings] = []
    monkeypatch.setattr(helved.startup, "run_pipeline", lambda settings, **_: seen.append(settings))
    monkeypatch.setattr("signal.signal", lambda *_: None)  # keep pytest's own Ctrl-C handling
    monkeypatch.setenv("HELVED_BOOTSTRAP_SERVERS", "h:1")
    argv = ["run", "-i", "1", "-a", "127.0.0.1:2101;127.0.0.1:2102", "-w", "3", "--recovery-parts", "9"]
    assert main([*argv, "--recovery-dir", "/tmp/r"]) == 0
    (settings,) = seen
    assert settings.addresses == ("127.0.0.1:2101", "127.0.0.1:2102")
    assert (settings.process_id, settings.workers, settings.recovery_parts) == (1, 3, 9)
    assert main(["run", "-i", "2", "-a", "a:1;b:1"]) == 2
    assert "is not an index of HELVED_ADDRESSES" in capsys.readouterr().err


def test_settings_survive_the_trip_through_the_environment(tmp_path: Path) -> None:
    settings = Settings(
        bootstrap_servers="h:1",
        security_protocol="SASL_SSL",
        sasl_username="u",
        sasl_password=" p ",
        topic_prefix="x.",
        partitions=5,
        recovery_dir=tmp_path,
        snapshot_s=0.25,
        backup_s=0,
        workers=2,
        addresses=("h-0:9999", "h-1:9999"),
        process_id=1,
        recovery_parts=8,
    )
    assert Settings.from_env(settings_env(settings)) == settings
    alone = Settings(bootstrap_servers="h:1", recovery_dir=tmp_path)
    assert Settings.from_env(settings_env(alone)) == alone


def test_keys_are_chosen_in_the_partition_of_the_request_they_follow() -> None:
    for partitions in (1, 3, 5):
        key = key_in_same_partition("dp-1001-2", "dp-1001-1", partitions)
        assert partition_for(key, partitions) == partition_for("dp-1001-1", partitions)
    chosen = examples(3)
    assert partition_for(chosen[1].key, 3) == partition_for(chosen[0].key, 3)
    assert partition_for(chosen[3].key, 3) == partition_for(chosen[2].key, 3)


def test_the_demo_uses_realistic_meldeperioder() -> None:
    days = meldeperiode("2025-08-04")
    assert len(days) == 10 and {d["meldeperiode"] for d in days} == {"2025-08-04/2025-08-17"}
    assert all(d["dato"] not in ("2025-08-09", "2025-08-10", "2025-08-16", "2025-08-17") for d in days)
    with pytest.raises(ValueError):
        meldeperiode("not a date")


def test_payment_rows_join_weekdays_across_the_weekend() -> None:
    from datetime import date

    paid: PaidMap = {
        "DAGPENGER": {date(2025, 8, d): 1000 for d in (7, 8, 11, 12)} | {date(2025, 8, 13): 700, date(2025, 8, 15): 700}
    }
    rows = [(r.fom.day, r.tom.day, r.days, r.per_day, r.total) for r in payment_rows(paid)]
    assert rows == [(7, 12, 4, 1000, 4000), (13, 13, 1, 700, 700), (15, 15, 1, 700, 700)]


def test_a_status_log_drops_replays_and_keeps_the_first_verdict() -> None:
    def status(word: str, offset: int, detaljer: object = None) -> InRecord:
        value = orjson.dumps({"status": word, "detaljer": detaljer, "error": None, "simulering": False})
        return InRecord(
            "s",
            "k",
            value,
            (("src-topic", b"t"), ("src-partition", b"0"), ("src-offset", str(offset).encode())),
        )

    log = StatusLog()
    for rec in [
        status("MOTTATT", 1, {}),
        status("OK", 2),
        status("MOTTATT", 1, {}),
        status("MOTTATT", 1),
        status("OK", 2),
    ]:
        log.add(rec)
    assert log.sequence("k") == ["MOTTATT", "OK", "MOTTATT"]
    assert log.final("k") == {"status": "OK", "detaljer": None, "error": None, "simulering": False}


def test_human_output_helpers_never_carry_an_ident() -> None:
    assert without_ident({"a": [{"ident": "12345678910", "b": 1}], "ident": "x"}) == {"a": [{"b": 1}]}
    assert describe_status({"status": "MOTTATT", "detaljer": None}) == "waiting: an Oppdrag for this sak is in flight"
    line = describe_status({"status": "FEILET", "error": {"statusCode": 400, "msg": "SAKID_LENGTH: x"}})
    assert line == "400 SAKID_LENGTH: x"
