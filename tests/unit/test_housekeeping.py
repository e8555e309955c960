"""The sak step's housekeeping with a large state (`helved.flow.housekeeping`): when it freezes the
garbage collector's generations and trims the heap, and the snapshot form that gives it its hook
while Bytewax restores (a sak's state comes back equal, old snapshots still load)."""

from __future__ import annotations

import pickle
from dataclasses import replace
from types import SimpleNamespace

import pytest

from helved.domain.model import Fagsystem, SakKey
from helved.domain.sak import SakState
from helved.flow import housekeeping
from helved.flow.housekeeping import Housekeeping, SakSnapshot, from_snapshot
from helved.flow.wiring import SakLogic


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """gc and malloc_trim as the housekeeping sees them, recorded instead of done."""
    seen: list[str] = []
    fake_gc = SimpleNamespace(freeze=lambda: seen.append("freeze"), collect=lambda g=2: seen.append(f"collect{g}"))
    monkeypatch.setattr(housekeeping, "gc", fake_gc)
    monkeypatch.setattr(housekeeping, "malloc_trim", lambda: seen.append("trim") or True)
    return seen


def test_restored_saker_are_frozen_as_they_come_and_once_more_when_the_restore_is_over(calls: list[str]) -> None:
    h = Housekeeping(restored_every=3, events_every=100)
    for _ in range(7):
        h.on_restored()
    assert calls == ["freeze", "freeze"]  # after the 3rd and 6th: all alive, nothing to collect
    h.restore_over()
    assert calls[2:] == ["collect2", "freeze", "trim"] and h.trims == 1
    h.restore_over()  # once only
    h.tick()
    assert len(calls) == 5 and h.restored_total == 7


def test_the_first_event_ends_a_restore_no_logic_ended_and_events_freeze_every_so_often(calls: list[str]) -> None:
    h = Housekeeping(restored_every=100, events_every=4)
    h.on_restored()
    h.tick()
    assert calls == ["collect2", "freeze", "trim"]
    for _ in range(8):
        h.tick()
    # the young generations are collected before each freeze: a cycle left there dies, not frozen
    assert calls[3:] == ["collect1", "freeze", "collect1", "freeze"]


def test_switched_off_it_neither_freezes_nor_trims(calls: list[str]) -> None:
    h = Housekeeping(restored_every=1, events_every=1)
    h.freeze = h.trim = False
    h.on_restored()
    h.tick()
    h.tick()
    assert calls == [] and h.freezes == h.trims == 0


def _state(sak_id: str) -> SakState:
    return SakState(
        SakKey(sak_id, Fagsystem.DAGPENGER),
        accepted=frozenset({"DP"}),
        seq=3,
        applied={("teamdagpenger.utbetaling.v1", 0): 17, ("helved.kvittering.v1", 0): 4},
    )


def test_a_snapshot_unpickles_to_the_state_through_the_hook(calls: list[str]) -> None:
    restored_before = housekeeping.HOUSEKEEPING.restored_total
    a, b = _state("S1"), _state("S2")
    back_a = pickle.loads(pickle.dumps(SakSnapshot(a)))
    back_b = pickle.loads(pickle.dumps(SakSnapshot(b)))
    assert type(back_a) is SakState and back_a == a and back_b == b
    assert housekeeping.HOUSEKEEPING.restored_total == restored_before + 2
    # what every sak holds alike comes back as one object
    assert back_a.accepted is back_b.accepted
    assert [k for k in back_a.applied] == [k for k in a.applied]
    assert all(x is y for x, y in zip(back_a.applied, back_b.applied, strict=True))
    assert from_snapshot(replace(a, applied={})) == replace(a, applied={})


def test_the_logic_snapshots_the_hook_and_resumes_from_either_form(calls: list[str]) -> None:
    state = _state("S3")
    logic = SakLogic(lambda s, e: (s, []), state)
    snap = logic.snapshot()
    assert isinstance(snap, SakSnapshot) and snap.state is state
    # Bytewax hands the builder what the snapshot unpickles to; a snapshot written before this
    # form was the state pickled as it is
    for resumed in (pickle.loads(pickle.dumps(snap)), pickle.loads(pickle.dumps(state)), snap):
        assert SakLogic(lambda s, e: (s, []), resumed).snapshot().state == state
