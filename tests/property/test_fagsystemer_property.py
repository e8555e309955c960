"""Proof, per fagsystem: OS pays exactly what the last accepted decision(s) asked for
(`fagsystemer.md`, settled rules 1-5, 8, 9, 12; domain.md §5).

For AAP, tiltakspenger, tilleggsstønader, historisk and valp (dagpenger has its own,
`test_property.py`): random histories of decisions on one or two saker
(`fagsystemer_strategies`: changes, stops, resends, empty and all-zero messages, a sender's
mistakes, invalid messages and dryruns) go through the real dataflow
(`helved.replay.replay_records`), OS played by the emulator, with 04/08/12 forced on chosen
Oppdrag (per decision and fagområde, so one of tilleggsstønader's two Oppdrag may be rejected
while the other is accepted), kvitteringer held back (later decisions of the sak wait) and
delivered twice. The oracle (`fagsystemer_oracle`, written from the spec, never calling helved's
parsers or diff) says at every final status which Oppdrag must have been sent, the status, and
what OS pays per fagområde, klassekode and day; at the end the confirmed utbetalinger, nothing
pending, and the DLQ.

Under the "ci" profile each test runs 50 examples (derandomized), under a second each (about
4 s for the five); HYPOTHESIS_PROFILE=long runs 1250 each, about 100 s for the five. A
failure prints the history, the Oppdrag and their answers, and a JSONL file for `helved replay`.
"""

from __future__ import annotations

from hypothesis import given, note

from helved.domain.model import Fagsystem

from .fagsystemer_oracle import check, run
from .fagsystemer_strategies import (
    History,
    aap_histories,
    historisk_histories,
    tp_histories,
    ts_histories,
    valp_histories,
)
from .profile import for_test

WEIGHT = 0.5


def _prove(h: History) -> None:
    note(h.describe())
    if h.codes:
        note(f"forced: {h.codes}")
    if h.holds:
        note(f"held: {sorted(h.holds)}")
    if h.duplicates:
        note(f"delivered twice: {h.duplicates}")
    check(run(h.fagsystem, h.decisions, h.codes, frozenset(h.holds), h.duplicates))


@for_test(weight=WEIGHT)
@given(h=aap_histories())
def test_os_pays_the_last_accepted_aap_decision(h):
    """AAP sends the whole sak per meldekort: a meldekort missing or paid 0 is stopped, an
    avvent alone is a change, identical decisions send nothing."""
    assert h.fagsystem is Fagsystem.AAP
    _prove(h)


@for_test(weight=WEIGHT)
@given(h=tp_histories())
def test_os_pays_the_last_accepted_tiltakspenger_decision(h):
    """Tiltakspenger sends the whole sak per meldeperiode: a meldeperiode missing (or moved to
    another stønad) is stopped with its own stønad; barnetillegg is its own chain."""
    assert h.fagsystem is Fagsystem.TILTAKSPENGER
    _prove(h)


@for_test(weight=WEIGHT)
@given(h=ts_histories())
def test_os_pays_the_last_accepted_tilleggsstonader_decisions_per_fagomrade(h):
    """Tilleggsstønader touches only what it names, over several fagområder: one Oppdrag per
    fagområde, each confirmed by its own receipt, what OS accepted paid even when the other
    Oppdrag of the request was rejected."""
    assert h.fagsystem is Fagsystem.TILLEGGSSTØNADER
    _prove(h)


@for_test(weight=WEIGHT)
@given(h=historisk_histories())
def test_os_pays_the_last_accepted_historisk_decision_of_each_utbetaling(h):
    """Historisk sends one utbetaling per message (UKEDAG, MND or EN_GANG), `perioder: []`
    stops it."""
    assert h.fagsystem is Fagsystem.HISTORISK
    _prove(h)


@for_test(weight=WEIGHT)
@given(h=valp_histories())
def test_os_pays_the_last_accepted_valp_decision_of_each_tilskudd(h):
    """Valp sends one EN_GANG tilskudd per message, `belop 0` stops it."""
    assert h.fagsystem is Fagsystem.VALP
    _prove(h)
