"""helved's settings, read once from the environment.

Environment variables (all optional):

| variable | default | meaning |
|---|---|---|
| `HELVED_BOOTSTRAP_SERVERS` | `""` | Kafka bootstrap servers, `host:port[,host:port…]`; empty means "start the embedded broker" |
| `HELVED_SECURITY_PROTOCOL` | `PLAINTEXT` | `PLAINTEXT`, `SSL` or `SASL_SSL` |
| `HELVED_SASL_MECHANISM` | `SCRAM-SHA-512` | `SCRAM-SHA-512`, `SCRAM-SHA-256` or `PLAIN` (used with `SASL_SSL`) |
| `HELVED_SASL_USERNAME` | — | required with `SASL_SSL` |
| `HELVED_SASL_PASSWORD` | — | required with `SASL_SSL`; never shown by `repr`/`str` |
| `HELVED_SSL_CA_LOCATION` | — | CA bundle file for `SSL`/`SASL_SSL` |
| `HELVED_TOPIC_PREFIX` | `""` | prepended to every topic name (test isolation) |
| `HELVED_PARTITIONS` | `3` | partitions of every helved topic |
| `HELVED_RECOVERY_DIR` | — | Bytewax recovery directory; unset means no recovery |
| `HELVED_SNAPSHOT_S` | `10` | seconds between Bytewax snapshots (epoch length) |
| `HELVED_BACKUP_S` | `60` | seconds Bytewax keeps older snapshots |
| `HELVED_WORKERS` | `1` | Bytewax workers in this process |
| `HELVED_ADDRESSES` | — | every process of a Bytewax cluster, `host:port;host:port…` (Bytewax's `-a`); unset means one process |
| `HELVED_PROCESS_ID` | `0` | this process's index in `HELVED_ADDRESSES` (Bytewax's `-i`) |
| `HELVED_RECOVERY_PARTS` | workers × processes | recovery partitions created in a new recovery directory (fixed once created) |
| `HELVED_FETCH_WAIT_MS` | `20` | longest a consumer's fetch waits for records (librdkafka `fetch.wait.max.ms`); on brokers that answer a waiting fetch only when its wait ends (Tansu) it is each hop's latency, and shorter waits cost the broker more fetches (BENCHMARKS.md, openloop) |
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helved import fagsystemer
from helved.domain.model import Fagsystem
from helved.fagsystemer import dagpenger

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_SSL")
SASL_MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")


@dataclass(frozen=True, slots=True)
class Topics:
    """The name of every topic helved reads or writes (spec `domain.md` §2).

    The fields are helved's own topics. Each sender's input topic and dryrun topic come from the
    fagsystem registry (`helved.fagsystemer`): `input(f)`, `dryrun(f)`, `inputs()`. `prefix`
    is what `with_prefix` put before every name (test isolation)."""

    oppdrag: str = "helved.oppdrag.v1"
    kvittering: str = "helved.kvittering.v1"
    status: str = "helved.status.v1"
    pending: str = "helved.pending-utbetalinger.v1"
    utbetalinger: str = "helved.utbetalinger.v1"
    saker: str = "helved.saker.v1"
    simuleringer: str = "helved.simuleringer.v1"
    dlq: str = "helved.dlq.v1"
    # Internal: every request and receipt of a sak, keyed by the sak, in the one order the sak
    # step applies them (spec §11: an order that survives crashes, for any sender keying).
    intake: str = "helved.intake.v1"
    # Internal, compacted: each sak's whole state after every event it applied (the changelog
    # that restores the state when a recovery volume is lost).
    sak_state: str = "helved.sak-state.v1"
    # Grensesnittavstemming (spec `avstemming.md`): the messages to OS, keyed by fagområde
    # (delete, never compact), and the record of each run, keyed by `<fom>..<tom>` (compacted).
    avstemming: str = "helved.avstemming.v1"
    avstemt: str = "helved.avstemt.v1"
    # The operator console's audit log (`helved console`): who did or read what, when and why.
    audit: str = "helved.audit.v1"
    prefix: str = ""

    def with_prefix(self, prefix: str) -> Topics:
        """The same topics with `prefix` prepended to every name."""
        if not prefix:
            return self
        names = {f.name: prefix + getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "prefix"}
        return Topics(**names, prefix=prefix + self.prefix)

    # -- the senders' topics, from the fagsystem registry ------------------------------------

    def input(self, fagsystem: Fagsystem) -> str:
        """The input topic of `fagsystem`."""
        return self.prefix + fagsystemer.contract(fagsystem).topic

    def dryrun(self, fagsystem: Fagsystem) -> str:
        """The topic `fagsystem`'s dryrun answers go to."""
        return self.prefix + fagsystemer.contract(fagsystem).dryrun_topic

    def inputs(self) -> dict[str, Fagsystem]:
        """Every sender's input topic -> its fagsystem."""
        return {self.prefix + c.topic: c.fagsystem for c in fagsystemer.contracts()}

    def dryruns(self) -> tuple[str, ...]:
        return tuple(self.prefix + c.dryrun_topic for c in fagsystemer.contracts())

    # Conveniences for the dagpenger-only tools (demo, bench, simulate, latency) and tests.
    @property
    def dagpenger(self) -> str:
        return self.input(dagpenger.FAGSYSTEM)

    @property
    def dryrun_dp(self) -> str:
        return self.dryrun(dagpenger.FAGSYSTEM)

    def all(self) -> tuple[str, ...]:
        """Every topic name: the senders' inputs, helved's own topics in declaration order
        with the dryrun topics after `simuleringer`."""
        own: list[str] = []
        for f in dataclasses.fields(self):
            if f.name == "prefix":
                continue
            own.append(getattr(self, f.name))
            if f.name == "simuleringer":
                own.extend(self.dryruns())
        return (*self.inputs(), *own)

    def compacted(self) -> frozenset[str]:
        """The topics holding confirmed state, which are meant to be log-compacted."""
        return frozenset({self.utbetalinger, self.saker, self.sak_state, self.avstemt})


def parse_addresses(text: str) -> tuple[str, ...]:
    """`host:port;host:port…` (Bytewax's `-a` form) as a tuple; empty text gives ()."""
    return tuple(part.strip() for part in text.split(";")) if text.strip() else ()


@dataclass(frozen=True, slots=True)
class Settings:
    """Runtime settings. Build with `Settings.from_env()`; change with `dataclasses.replace`."""

    bootstrap_servers: str = ""
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "SCRAM-SHA-512"
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_ca_location: str | None = None
    topic_prefix: str = ""
    partitions: int = 3
    recovery_dir: Path | None = None
    snapshot_s: float = 10.0
    backup_s: float = 60.0
    workers: int = 1
    addresses: tuple[str, ...] = ()
    process_id: int = 0
    recovery_parts: int | None = None
    fetch_wait_ms: int = 20

    def __post_init__(self) -> None:
        if not 1 <= self.fetch_wait_ms <= 10_000:
            raise ValueError(f"HELVED_FETCH_WAIT_MS must be between 1 and 10000, got {self.fetch_wait_ms}")
        if self.security_protocol not in SECURITY_PROTOCOLS:
            raise ValueError(
                f"HELVED_SECURITY_PROTOCOL must be one of {', '.join(SECURITY_PROTOCOLS)}, "
                f"got {self.security_protocol!r}"
            )
        if self.security_protocol == "SASL_SSL":
            if self.sasl_mechanism not in SASL_MECHANISMS:
                raise ValueError(
                    f"HELVED_SASL_MECHANISM must be one of {', '.join(SASL_MECHANISMS)}, got {self.sasl_mechanism!r}"
                )
            if not self.sasl_username or not self.sasl_password:
                raise ValueError(
                    "HELVED_SECURITY_PROTOCOL=SASL_SSL needs HELVED_SASL_USERNAME and HELVED_SASL_PASSWORD"
                )
        if self.partitions < 1:
            raise ValueError(f"HELVED_PARTITIONS must be at least 1, got {self.partitions}")
        if self.workers < 1:
            raise ValueError(f"HELVED_WORKERS must be at least 1, got {self.workers}")
        if self.process_id < 0:
            raise ValueError(f"HELVED_PROCESS_ID must not be negative, got {self.process_id}")
        if self.addresses:
            if self.process_id >= len(self.addresses):
                raise ValueError(
                    f"HELVED_PROCESS_ID {self.process_id} is not an index of HELVED_ADDRESSES "
                    f"({len(self.addresses)} process(es))"
                )
            if len(set(self.addresses)) != len(self.addresses) or not all(a.strip() for a in self.addresses):
                raise ValueError(
                    f"HELVED_ADDRESSES must be distinct host:port entries, got {';'.join(self.addresses)!r}"
                )
        elif self.process_id != 0:
            raise ValueError("HELVED_PROCESS_ID needs HELVED_ADDRESSES (the address of every process)")
        if self.recovery_parts is not None and self.recovery_parts < 1:
            raise ValueError(f"HELVED_RECOVERY_PARTS must be at least 1, got {self.recovery_parts}")
        if self.snapshot_s <= 0:
            raise ValueError(f"HELVED_SNAPSHOT_S must be positive, got {self.snapshot_s}")
        if self.backup_s < 0:
            raise ValueError(f"HELVED_BACKUP_S must not be negative, got {self.backup_s}")

    def __repr__(self) -> str:
        parts = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "sasl_password":
                value = None if value is None else "***"
            parts.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(parts)})"

    __str__ = __repr__

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        """Read the `HELVED_*` variables (see the module docstring); empty values mean unset."""

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        def number(name: str, default: float, kind: type[int] | type[float]) -> Any:
            raw = get(name)
            if raw is None:
                return kind(default)
            try:
                return kind(raw)
            except ValueError:
                what = "an integer" if kind is int else "a number"
                raise ValueError(f"{name} must be {what}, got {raw!r}") from None

        recovery = get("HELVED_RECOVERY_DIR")
        addresses = parse_addresses(get("HELVED_ADDRESSES") or "")
        parts = get("HELVED_RECOVERY_PARTS")
        return cls(
            bootstrap_servers=get("HELVED_BOOTSTRAP_SERVERS") or "",
            security_protocol=(get("HELVED_SECURITY_PROTOCOL") or "PLAINTEXT").upper(),
            sasl_mechanism=(get("HELVED_SASL_MECHANISM") or "SCRAM-SHA-512").upper(),
            sasl_username=get("HELVED_SASL_USERNAME"),
            # A password is taken verbatim: surrounding spaces may belong to it.
            sasl_password=env.get("HELVED_SASL_PASSWORD") or None,
            ssl_ca_location=get("HELVED_SSL_CA_LOCATION"),
            topic_prefix=get("HELVED_TOPIC_PREFIX") or "",
            partitions=number("HELVED_PARTITIONS", 3, int),
            recovery_dir=Path(recovery) if recovery else None,
            snapshot_s=number("HELVED_SNAPSHOT_S", 10, float),
            backup_s=number("HELVED_BACKUP_S", 60, float),
            workers=number("HELVED_WORKERS", 1, int),
            addresses=addresses,
            process_id=number("HELVED_PROCESS_ID", 0, int),
            recovery_parts=None if parts is None else number("HELVED_RECOVERY_PARTS", 1, int),
            fetch_wait_ms=number("HELVED_FETCH_WAIT_MS", 20, int),
        )

    @property
    def processes(self) -> int:
        """Processes in the Bytewax cluster (1 without `addresses`)."""
        return max(1, len(self.addresses))

    @property
    def total_workers(self) -> int:
        """Workers in the whole cluster: processes × workers per process."""
        return self.processes * self.workers

    @property
    def initial_recovery_parts(self) -> int:
        """Recovery partitions to create in a new recovery directory: `recovery_parts`, or one
        per worker of the cluster. Bytewax resumes on any worker count from any partition count;
        fewer partitions than workers only leaves some workers without snapshots to write."""
        return self.recovery_parts or self.total_workers

    @property
    def embedded_broker(self) -> bool:
        """True when no bootstrap servers are configured: the embedded broker is to be started."""
        return not self.bootstrap_servers

    @property
    def topics(self) -> Topics:
        """Every topic name, with `topic_prefix` applied."""
        return Topics().with_prefix(self.topic_prefix)

    def kafka_client_config(self) -> dict[str, str]:
        """The confluent-kafka (librdkafka) client config: bootstrap servers and security.

        The result holds the SASL password: never log it.
        """
        if not self.bootstrap_servers:
            raise ValueError(
                "no Kafka bootstrap servers: set HELVED_BOOTSTRAP_SERVERS, or start the "
                "embedded broker and use dataclasses.replace(settings, bootstrap_servers=...)"
            )
        config = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.security_protocol,
        }
        if self.security_protocol in ("SSL", "SASL_SSL") and self.ssl_ca_location:
            config["ssl.ca.location"] = self.ssl_ca_location
        if self.security_protocol == "SASL_SSL":
            assert self.sasl_username is not None and self.sasl_password is not None
            config["sasl.mechanism"] = self.sasl_mechanism
            config["sasl.username"] = self.sasl_username
            config["sasl.password"] = self.sasl_password
        return config
