"""One conversion from a consumed Kafka message to `InRecord`, whichever client read it."""

from __future__ import annotations

import pytest
from bytewax.connectors.kafka import KafkaError, KafkaSourceMessage
from confluent_kafka import Message

from helved.kafka.consumer import to_in_record
from helved.records import InRecord


def test_a_confluent_message_and_the_connectors_message_become_the_same_record() -> None:
    fields = {"topic": "t", "partition": 2, "offset": 7, "key": "sak-ø".encode(), "value": b"{}"}
    headers = [("a", b"1"), ("empty", None)]
    expected = InRecord("t", "sak-ø", b"{}", (("a", b"1"), ("empty", b"")), 2, 7, 1_700_000_000_000)
    polled = Message(**fields, headers=headers, timestamp=(1, 1_700_000_000_000))
    sourced = KafkaSourceMessage(**fields, headers=headers, timestamp=(1, 1_700_000_000_000))
    assert to_in_record(polled) == to_in_record(sourced) == expected


def test_a_message_without_key_headers_or_timestamp() -> None:
    assert to_in_record(Message(topic="t", timestamp=(0, -1))) == InRecord("t", None, None, (), 0, 0, None)


def test_an_undecodable_key_has_its_bytes_replaced_and_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    assert to_in_record(Message(topic="t", key=b"\xff", value=b"")).key == "\ufffd"
    assert "not valid UTF-8" in caplog.text


def test_the_connectors_error_is_raised() -> None:
    error = KafkaError(None, KafkaSourceMessage(key=None, value=None, topic="t"))  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="error consuming from t"):
        to_in_record(error)
