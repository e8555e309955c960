"""Issue 18's cheaper records and snapshots, against what they replace:

- a sak snapshot holds each utbetaling as bytes packed once (`StoredUtbetaling`): it loads back
  equal, the changelog's bytes stay exactly what they were, and a changelog record cannot smuggle
  a class in through those bytes;
- the sak key's text written directly is `json.dumps`'s, for any sakId;
- an utbetaling's pending and confirmed records carry the JSON it always had.
"""

from __future__ import annotations

import dataclasses
import io
import json
import pickle
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helved import codec
from helved.bench.traffic import Profile, histories
from helved.config import Topics
from helved.domain import model
from helved.domain.model import Action, Fagsystem, SakKey, StoredUtbetaling, Utbetaling
from helved.domain.sak import ConfirmedOut, PendingCleared, PendingOut, SakState, on_receipt, on_request
from helved.flow import encode
from helved.flow.incremental import parse_raw
from helved.oppdrag.xml import echo_kvittering, oppdrag_xml, parse_kvittering
from helved.statelog import FORMAT_V1, StateFormatError, decode_state, encode_state


def _states(saker: int = 3, decisions: int = 30) -> list[SakState]:
    """Sak states along real histories: requests, receipts (some rejected), stops, waiting."""
    out: list[SakState] = []
    for h in histories(saker, 8, profile=Profile(correction_share=0.5, stop_share=0.2)):
        state: SakState | None = None
        for k in range(decisions):
            raw = h.next_decision().record.value
            assert raw is not None
            req = parse_raw(raw, original_key=f"k{k}")
            assert req is not None
            state, outputs = on_request(state, req)
            out.append(state)
            for o in outputs:
                if type(o).__name__ == "OppdragOut":
                    grad = "08" if k % 9 == 4 else "00"
                    kv = parse_kvittering(echo_kvittering(oppdrag_xml(o.oppdrag), grad))  # type: ignore[attr-defined]
                    state, _ = on_receipt(state, kv)
                    out.append(state)
    return out


def _old_changelog_bytes(state: SakState) -> bytes:
    """The changelog record as it was written before: every utbetaling by its fields."""
    saved = Utbetaling.__reduce__
    Utbetaling.__reduce__ = model.utbetaling_by_fields  # type: ignore[method-assign,assignment]
    try:
        return FORMAT_V1 + pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
    finally:
        Utbetaling.__reduce__ = saved  # type: ignore[method-assign]


def test_a_snapshot_loads_back_equal_and_keeps_the_packed_bytes() -> None:
    for state in _states():
        data = pickle.dumps(state)
        back = pickle.loads(data)
        assert back == state
        for uid, u in back.confirmed.items():
            assert u._blob is not None and u._blob == state.confirmed[uid]._blob  # kept, not repacked


def test_the_changelog_bytes_are_what_they_were_before_and_after_a_snapshot() -> None:
    for state in _states():
        before = encode_state(state)
        assert before == _old_changelog_bytes(state)
        pickle.dumps(state)  # a snapshot packs every utbetaling's bytes
        assert encode_state(state) == before
        assert decode_state(before) == state


def test_the_packed_bytes_are_no_value() -> None:
    u = next(iter(_states(1, 2)[-1].confirmed.values()))
    pickle.dumps(u)
    assert u._blob is not None
    again = dataclasses.replace(u, action=Action.UPDATE)
    assert again._blob is None  # a changed utbetaling is packed anew
    same = dataclasses.replace(u)
    assert same == u and hash(same) == hash(u) and repr(same) == repr(u)
    assert "_blob" not in repr(u)


def test_a_snapshot_written_before_still_loads() -> None:
    for state in _states(1, 10):
        old = _old_changelog_bytes(state)
        assert decode_state(old) == state
        assert pickle.loads(old[1:]) == state


class _Evil:
    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (print, ("pwned",))


def test_a_changelog_record_cannot_name_a_class_through_an_utbetalings_bytes() -> None:
    state = _states(1, 2)[-1]
    uid, u = next(iter(state.confirmed.items()))
    blob = pickle.dumps((u.sak_id, _Evil()), protocol=5)

    class Planted:
        def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
            return (StoredUtbetaling, (blob, uid))

    record = FORMAT_V1 + pickle.dumps(dataclasses.replace(state, confirmed={uid: Planted()}), protocol=5)  # type: ignore[dict-item]
    with pytest.raises(StateFormatError):
        decode_state(record)
    with pytest.raises(pickle.UnpicklingError):
        model._PlainUnpickler(io.BytesIO(blob)).load()


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=40), st.sampled_from(list(Fagsystem)))
def test_the_sak_keys_text_is_json_dumps_for_any_sak_id(sak_id: str, fagsystem: Fagsystem) -> None:
    expected = json.dumps({"sakId": sak_id, "fagsystem": fagsystem.value}, ensure_ascii=False, separators=(",", ":"))
    assert SakKey(sak_id, fagsystem).as_json_text() == expected


def test_pending_and_confirmed_records_carry_the_utbetalings_own_json() -> None:
    topics = Topics()
    state = _states(1, 3)[-1]
    for u in state.confirmed.values():
        pending = encode.record_of(topics, PendingOut("k", u), None)
        confirmed = encode.record_of(topics, ConfirmedOut("k", u), None)
        assert pending.value == confirmed.value == codec.encode_utbetaling(u)
        other = dataclasses.replace(u, behandling_id="B-other")  # same uid, another value
        assert encode.record_of(topics, ConfirmedOut("k", other), None).value == codec.encode_utbetaling(other)
        encode.record_of(topics, PendingCleared(u.uid), None)
        assert u.uid not in encode._SENT
