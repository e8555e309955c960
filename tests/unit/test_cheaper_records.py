"""Issue 18's cheaper records and snapshots, against what they replace:

- a sak snapshot holds each utbetaling by its plain values (`unpack_utbetaling`), what the sak's
  utbetalinger share written once: it loads back equal and shared; a snapshot that held them as
  bytes packed once (`StoredUtbetaling`, before) still loads; the changelog's bytes stay exactly
  what they were, and a changelog record cannot smuggle a class in through such bytes;
- the sak key's text written directly is `json.dumps`'s, for any sakId;
- an utbetaling's pending and confirmed records carry the JSON it always had.
"""

from __future__ import annotations

import copyreg
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
from helved.domain.model import Fagsystem, SakKey, StoredUtbetaling, Utbetaling
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


def test_a_snapshot_loads_back_equal_and_shares_what_the_saks_utbetalinger_share() -> None:
    for state in _states():
        back = pickle.loads(pickle.dumps(state))
        assert back == state
        restored = list(back.confirmed.values())
        for u in restored:
            assert u.uid in back.confirmed and back.confirmed[u.uid] is u
            if u.tail is not None and u.perioder and u.tail.periode == u.perioder[-1]:
                assert u.tail.periode is u.perioder[-1]
        # one object per value the utbetalinger share (pickle writes an object once)
        assert len({id(u.sak_id) for u in restored}) <= 1 and len({id(u.ident) for u in restored}) <= 1
        days = {p.fom: p.fom for u in restored for p in u.perioder}
        assert all(p.fom is days[p.fom] for u in restored for p in u.perioder)


def _old_snapshot_bytes(state: SakState) -> bytes:
    """A sak snapshot as it was written before: each utbetaling as `StoredUtbetaling(blob, uid)`,
    the blob its values but the uid as plain values, pickled on their own."""

    def packed(u: Utbetaling) -> tuple[Any, tuple[Any, ...]]:
        def plain(p: model.Periode) -> tuple[Any, ...]:
            return (p.fom.toordinal(), p.tom.toordinal(), p.beløp, p.vedtakssats, p.betalende_enhet)

        s, tail = u.stønad, u.tail
        blob = pickle.dumps(
            (
                u.sak_id,
                u.fagsystem.value,
                u.behandling_id,
                u.ident,
                (s.name, s.klassekode, s.fagområde, s.periodetype.value),
                u.vedtakstidspunkt.isoformat(),
                u.saksbehandler,
                u.beslutter,
                tuple(plain(p) for p in u.perioder),
                None if u.action is None else u.action.value,
                None if tail is None else (tail.delytelse_id, plain(tail.periode)),
            ),
            protocol=5,
        )
        return (StoredUtbetaling, (blob, u.uid))

    buf = io.BytesIO()
    pickler = pickle.Pickler(buf, protocol=5)
    pickler.dispatch_table = {**copyreg.dispatch_table, Utbetaling: packed}
    pickler.dump(state)
    return buf.getvalue()


def test_a_snapshot_written_with_packed_bytes_still_loads_equal_and_shared() -> None:
    for state in _states():
        back = pickle.loads(_old_snapshot_bytes(state))
        assert back == state
        restored = list(back.confirmed.values())
        assert len({id(u.sak_id) for u in restored}) <= 1
        for u in restored:
            if u.tail is not None and u.perioder and u.tail.periode == u.perioder[-1]:
                assert u.tail.periode is u.perioder[-1]


def test_the_changelog_bytes_are_what_they_were_before_and_after_a_snapshot() -> None:
    for state in _states():
        before = encode_state(state)
        assert before == _old_changelog_bytes(state)
        pickle.dumps(state)  # a snapshot packs every utbetaling's bytes
        assert encode_state(state) == before
        assert decode_state(before) == state


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
