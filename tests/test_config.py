"""Settings parsed from the environment."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from helved.config import Settings, Topics
from helved.domain.model import Fagsystem

SASL_ENV = {
    "HELVED_BOOTSTRAP_SERVERS": "b1:9093,b2:9093",
    "HELVED_SECURITY_PROTOCOL": "SASL_SSL",
    "HELVED_SASL_USERNAME": "helved",
    "HELVED_SASL_PASSWORD": "s3cret-Pa55",
    "HELVED_SSL_CA_LOCATION": "/etc/ca.pem",
}


def test_defaults() -> None:
    s = Settings.from_env({})
    assert s == Settings()
    assert s.bootstrap_servers == "" and s.embedded_broker
    assert (s.security_protocol, s.sasl_mechanism) == ("PLAINTEXT", "SCRAM-SHA-512")
    assert (s.partitions, s.snapshot_s, s.backup_s, s.workers) == (3, 10.0, 60.0, 1)
    assert s.recovery_dir is None and s.topic_prefix == ""
    assert s.topics == Topics()


def test_every_variable_is_read() -> None:
    s = Settings.from_env(
        {
            **SASL_ENV,
            "HELVED_SASL_MECHANISM": "scram-sha-256",
            "HELVED_TOPIC_PREFIX": "t1.",
            "HELVED_PARTITIONS": "6",
            "HELVED_RECOVERY_DIR": "/var/helved/recovery",
            "HELVED_SNAPSHOT_S": "2.5",
            "HELVED_BACKUP_S": "30",
            "HELVED_WORKERS": "4",
        }
    )
    assert s.bootstrap_servers == "b1:9093,b2:9093" and not s.embedded_broker
    assert s.security_protocol == "SASL_SSL" and s.sasl_mechanism == "SCRAM-SHA-256"
    assert (s.sasl_username, s.sasl_password, s.ssl_ca_location) == ("helved", "s3cret-Pa55", "/etc/ca.pem")
    assert s.recovery_dir == Path("/var/helved/recovery")
    assert (s.partitions, s.snapshot_s, s.backup_s, s.workers) == (6, 2.5, 30.0, 4)
    assert s.topics.saker == "t1.helved.saker.v1"


def test_topics_match_the_spec_and_take_a_prefix() -> None:
    t = Topics()
    assert t.all() == (
        # every sender's input topic (fagsystemer.md), from the fagsystem registry
        "teamdagpenger.utbetaling.v1",
        "aap.utbetaling.v1",
        "helved.utbetalinger-tp.v1",
        "tilleggsstonader.utbetaling.v1",
        "historisk.utbetaling.v1",
        "team-mulighetsrommet.tilskudd.utbetaling-v1",
        "helved.oppdrag.v1",
        "helved.kvittering.v1",
        "helved.status.v1",
        "helved.pending-utbetalinger.v1",
        "helved.utbetalinger.v1",
        "helved.saker.v1",
        "helved.simuleringer.v1",
        "helved.dryrun-dp.v1",
        "helved.dryrun-aap.v1",
        "helved.dryrun-tp.v1",
        "helved.dryrun-ts.v1",
        "helved.dryrun-historisk.v1",
        "helved.dryrun-valp.v1",
        "helved.dlq.v1",
        "helved.intake.v1",
        "helved.sak-state.v1",
        "helved.avstemming.v1",
        "helved.avstemt.v1",
        "helved.audit.v1",
    )
    p = t.with_prefix("x-")
    assert p.all() == tuple("x-" + name for name in t.all())
    assert p.compacted() == {
        "x-helved.utbetalinger.v1",
        "x-helved.saker.v1",
        "x-helved.sak-state.v1",
        "x-helved.avstemt.v1",
    }
    assert t.with_prefix("") == t
    assert p.inputs()["x-aap.utbetaling.v1"] is Fagsystem.AAP
    assert p.dryrun(Fagsystem.VALP) == "x-helved.dryrun-valp.v1"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"HELVED_PARTITIONS": "three"}, "HELVED_PARTITIONS must be an integer"),
        ({"HELVED_PARTITIONS": "0"}, "HELVED_PARTITIONS must be at least 1"),
        ({"HELVED_WORKERS": "0"}, "HELVED_WORKERS"),
        ({"HELVED_SNAPSHOT_S": "0"}, "HELVED_SNAPSHOT_S must be positive"),
        ({"HELVED_BACKUP_S": "soon"}, "HELVED_BACKUP_S must be a number"),
        ({"HELVED_SECURITY_PROTOCOL": "SASL_PLAINTEXT"}, "HELVED_SECURITY_PROTOCOL must be one of"),
        ({**SASL_ENV, "HELVED_SASL_MECHANISM": "GSSAPI"}, "HELVED_SASL_MECHANISM must be one of"),
        ({**SASL_ENV, "HELVED_SASL_PASSWORD": ""}, "needs HELVED_SASL_USERNAME and HELVED_SASL_PASSWORD"),
        ({"HELVED_PROCESS_ID": "1"}, "HELVED_PROCESS_ID needs HELVED_ADDRESSES"),
        ({"HELVED_ADDRESSES": "a:1;b:1", "HELVED_PROCESS_ID": "2"}, "is not an index of HELVED_ADDRESSES"),
        ({"HELVED_ADDRESSES": "a:1;b:1", "HELVED_PROCESS_ID": "-1"}, "HELVED_PROCESS_ID must not be negative"),
        ({"HELVED_ADDRESSES": "a:1;a:1"}, "must be distinct"),
        ({"HELVED_ADDRESSES": "a:1;;b:1"}, "must be distinct"),
        ({"HELVED_RECOVERY_PARTS": "0"}, "HELVED_RECOVERY_PARTS must be at least 1"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Settings.from_env(env)


def test_client_config_per_protocol() -> None:
    plain = Settings.from_env({"HELVED_BOOTSTRAP_SERVERS": "localhost:9092"})
    assert plain.kafka_client_config() == {
        "bootstrap.servers": "localhost:9092",
        "security.protocol": "PLAINTEXT",
    }
    ssl = Settings.from_env(
        {"HELVED_BOOTSTRAP_SERVERS": "b:9093", "HELVED_SECURITY_PROTOCOL": "ssl", "HELVED_SSL_CA_LOCATION": "/ca"}
    )
    assert ssl.kafka_client_config() == {
        "bootstrap.servers": "b:9093",
        "security.protocol": "SSL",
        "ssl.ca.location": "/ca",
    }
    assert Settings.from_env(SASL_ENV).kafka_client_config() == {
        "bootstrap.servers": "b1:9093,b2:9093",
        "security.protocol": "SASL_SSL",
        "ssl.ca.location": "/etc/ca.pem",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "helved",
        "sasl.password": "s3cret-Pa55",
    }


def test_client_config_needs_bootstrap_servers() -> None:
    with pytest.raises(ValueError, match="embedded broker"):
        Settings.from_env({}).kafka_client_config()


def test_repr_and_str_never_show_the_password() -> None:
    s = Settings.from_env(SASL_ENV)
    for text in (repr(s), str(s), f"{s}", f"{s!r}", repr([s]), repr(dataclasses.replace(s, workers=2))):
        assert "s3cret-Pa55" not in text
        assert "sasl_password='***'" in text
        assert "sasl_username='helved'" in text
    assert "sasl_password=None" in repr(Settings())


def test_settings_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Settings().partitions = 4  # type: ignore[misc]


def test_a_cluster_from_the_environment() -> None:
    alone = Settings.from_env({"HELVED_WORKERS": "2"})
    assert (alone.addresses, alone.process_id, alone.processes, alone.total_workers) == ((), 0, 1, 2)
    assert alone.initial_recovery_parts == 2
    cluster = Settings.from_env(
        {"HELVED_ADDRESSES": " p-0:9999 ; p-1:9999;p-2:9999 ", "HELVED_PROCESS_ID": "2", "HELVED_WORKERS": "2"}
    )
    assert cluster.addresses == ("p-0:9999", "p-1:9999", "p-2:9999")
    assert (cluster.process_id, cluster.processes, cluster.total_workers) == (2, 3, 6)
    assert cluster.initial_recovery_parts == 6
    assert Settings.from_env({"HELVED_RECOVERY_PARTS": "12"}).initial_recovery_parts == 12
