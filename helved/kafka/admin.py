"""Start-up checks against the broker: is it there, and do helved's topics exist as expected."""

from __future__ import annotations

import logging
import time
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, ClusterMetadata, NewTopic

from helved.config import Settings, Topics
from helved.errors import HelvedError

log = logging.getLogger(__name__)

# librdkafka's own log lines (connection failures and the like) go here, not to stderr.
LIBRDKAFKA_LOG = logging.getLogger("helved.kafka.librdkafka")


class BrokerUnavailable(HelvedError, RuntimeError):
    """No Kafka broker answered in time."""


class TopicMismatch(HelvedError, RuntimeError):
    """A topic exists with another partition count than configured."""


def admin_client(config: dict[str, Any]) -> AdminClient:
    """An AdminClient whose librdkafka logging goes to Python logging, and that never asks the
    broker to create a topic it looks up (an admin client is a producer inside librdkafka, whose
    default is to ask)."""
    # Typed as the other clients' configs are: confluent-kafka's annotation of `conf` admits
    # str/int/float/bool values only, but librdkafka's clients take the `logger` object in it too.
    conf: dict[str, Any] = {**config, "logger": LIBRDKAFKA_LOG, "allow.auto.create.topics": False}
    return AdminClient(conf)


def fetch_metadata(admin: AdminClient, bootstrap: str, timeout_s: float) -> ClusterMetadata:
    """Metadata of every topic (never of one: that would auto-create it), bounded in time."""
    try:
        return admin.list_topics(timeout=timeout_s)
    except KafkaException as e:
        raise BrokerUnavailable(
            f"no Kafka broker answered at {bootstrap!r} within {timeout_s:g} s: {e.args[0].str()}"
        ) from None


def check_broker(settings: Settings, timeout_s: float = 10.0) -> None:
    """Raise `BrokerUnavailable` unless a broker answers a metadata request within `timeout_s`."""
    admin = admin_client(settings.kafka_client_config())
    fetch_metadata(admin, settings.bootstrap_servers, timeout_s)


def ensure_topics(settings: Settings, topics: Topics, *, timeout_s: float = 30.0) -> None:
    """Create every topic of `topics` with `settings.partitions` partitions unless it exists.

    The state topics (`Topics.compacted()`) get `cleanup.policy=compact`; a broker that rejects
    that config gets the topic without it and a warning. Returns once every topic is visible
    with the configured partition count. Idempotent.

    Raises `TopicMismatch` if a topic exists with another partition count (partitioning decides
    which worker owns a key, so this must never be silently accepted) and `BrokerUnavailable` if
    the broker does not answer.
    """
    admin = admin_client(settings.kafka_client_config())
    wanted = topics.all()
    deadline = time.monotonic() + timeout_s

    existing = _partition_counts(_metadata(admin, settings, deadline))
    _raise_on_mismatch(existing, wanted, settings.partitions)
    missing = [name for name in wanted if name not in existing]
    if missing:
        log.info("creating %d topics with %d partitions", len(missing), settings.partitions)
        _create(admin, missing, topics.compacted(), settings.partitions, deadline)

    while True:
        counts = _partition_counts(_metadata(admin, settings, deadline))
        _raise_on_mismatch(counts, wanted, settings.partitions)
        absent = [name for name in wanted if name not in counts]
        if not absent:
            return
        if time.monotonic() >= deadline:
            missing_now = ", ".join(absent)
            raise BrokerUnavailable(f"topics not visible after {timeout_s:g} s: {missing_now}")
        time.sleep(0.1)


def _metadata(admin: AdminClient, settings: Settings, deadline: float) -> ClusterMetadata:
    return fetch_metadata(admin, settings.bootstrap_servers, max(deadline - time.monotonic(), 1.0))


def _partition_counts(metadata: ClusterMetadata) -> dict[str, int]:
    """Partition count per topic that exists without error."""
    return {
        name: len(meta.partitions) for name, meta in metadata.topics.items() if meta.error is None and meta.partitions
    }


def _raise_on_mismatch(counts: dict[str, int], wanted: tuple[str, ...], partitions: int) -> None:
    wrong = {name: counts[name] for name in wanted if name in counts and counts[name] != partitions}
    if wrong:
        found = ", ".join(f"{name} has {n}" for name, n in sorted(wrong.items()))
        raise TopicMismatch(
            f"topics exist with the wrong partition count (expected {partitions}): {found}. "
            "Recreate them or set HELVED_PARTITIONS to match."
        )


def _create(
    admin: AdminClient,
    names: list[str],
    compacted: frozenset[str],
    partitions: int,
    deadline: float,
) -> None:
    """Create `names`; retry a compacted topic without its config if the broker rejects it."""

    def new_topic(name: str, with_config: bool) -> NewTopic:
        config = {"cleanup.policy": "compact"} if with_config and name in compacted else {}
        return NewTopic(name, num_partitions=partitions, config=config)

    retry: list[str] = []
    for name, error in _submit(admin, [new_topic(n, True) for n in names], deadline).items():
        if error is None:
            continue
        if name in compacted:
            log.warning(
                "broker rejected cleanup.policy=compact for %s (%s); creating it uncompacted",
                name,
                error.str(),
            )
            retry.append(name)
        else:
            raise BrokerUnavailable(f"could not create topic {name}: {error.str()}")
    for name, error in _submit(admin, [new_topic(n, False) for n in retry], deadline).items():
        if error is not None:
            raise BrokerUnavailable(f"could not create topic {name}: {error.str()}")


def _submit(admin: AdminClient, new_topics: list[NewTopic], deadline: float) -> dict[str, KafkaError | None]:
    """Create topics and wait; an already existing topic counts as success."""
    if not new_topics:
        return {}
    timeout = max(deadline - time.monotonic(), 1.0)
    futures = admin.create_topics(new_topics, operation_timeout=timeout, request_timeout=timeout)
    result: dict[str, KafkaError | None] = {}
    for name, future in futures.items():
        try:
            future.result(timeout=timeout)
            result[name] = None
        except KafkaException as e:
            error: KafkaError = e.args[0]
            result[name] = None if error.code() == KafkaError.TOPIC_ALREADY_EXISTS else error
        except TimeoutError:
            message = f"creating topic {name} timed out after {timeout:g} s"
            raise BrokerUnavailable(message) from None
    return result
