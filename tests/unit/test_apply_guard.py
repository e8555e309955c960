"""The sak step never stops the dataflow: a bug while encoding a transition's outputs is a
FEILET 500 under the sender's key and a dead letter, with the sak's state untouched (the same
guard as a bug in the transition itself)."""

from __future__ import annotations

import orjson
import pytest

from helved.config import Topics
from helved.flow import apply as apply_mod
from helved.flow.config import FlowConfig
from helved.flow.intake import intake
from tests.builders import days, dp, request_record

TOPICS = Topics()


def test_a_bug_while_encoding_is_feilet_500_and_a_dead_letter_with_the_state_untouched(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = FlowConfig(TOPICS)
    ((key, event),) = intake(config, request_record(dp(days("mp1", "2025-08-04", "2025-08-08", 1000)), key="k1"))
    real_encode = apply_mod.encode
    calls = {"n": 0}

    def encode_that_breaks_once(topics, outputs, cause):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 1:
            raise ValueError("a bug in an encoder")
        return real_encode(topics, outputs, cause)

    monkeypatch.setattr(apply_mod, "encode", encode_that_breaks_once)
    state, out = apply_mod.apply(config, None, event)
    assert state is None  # nothing applied: the request can be sent again
    (status,) = [orjson.loads(r.value) for r in out if r.topic == TOPICS.status]
    assert status["status"] == "FEILET" and status["error"]["statusCode"] == 500
    assert [r.key for r in out if r.topic == TOPICS.dlq] == ["k1"]
    assert not [r for r in out if r.topic == TOPICS.oppdrag]
