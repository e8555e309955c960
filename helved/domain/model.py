"""The values of the payment domain: periods, utbetalinger, Oppdrag lines and requests.

Everything here is immutable (`frozen=True, slots=True`), compared by value and picklable, so it
can be held in Bytewax state and snapshotted without copying. Money is whole kroner as `int`.
"""

from __future__ import annotations

import dataclasses
import io
import json
import operator
import pickle
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any, TypeVar

T = TypeVar("T")


def picklable(cls: type[T]) -> type[T]:
    """Pickle a frozen dataclass as `cls(*field values)`.

    Python 3.11's `slots=True` dataclasses pickle through a `__getstate__` that calls
    `dataclasses.fields()` on every object, which made snapshotting a sak's state cost about
    10 µs per utbetaling. This reduce is several times faster and loads the same values (it
    also still loads pickles written the old way: the dataclass `__setstate__` is kept).
    """
    names = tuple(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]
    get: Callable[[Any], Any] = operator.attrgetter(*names)
    if len(names) == 1:

        def __reduce__(self: Any) -> tuple[Any, tuple[Any, ...]]:
            return (cls, (get(self),))

    else:

        def __reduce__(self: Any) -> tuple[Any, tuple[Any, ...]]:
            return (cls, get(self))

    cls.__reduce__ = __reduce__  # type: ignore[method-assign]
    return cls


# The NAV unit that is both behandlende and (unless a period names another) betalende enhet.
DEFAULT_ENHET = "8020"


class Fagsystem(StrEnum):
    DAGPENGER = "DAGPENGER"
    AAP = "AAP"
    TILLEGGSSTØNADER = "TILLEGGSSTØNADER"
    TILTAKSPENGER = "TILTAKSPENGER"
    HISTORISK = "HISTORISK"
    VALP = "VALP"


class Periodetype(StrEnum):
    UKEDAG = "UKEDAG"
    DAG = "DAG"
    MND = "MND"
    EN_GANG = "EN_GANG"

    @property
    def type_sats(self) -> str:
        return _TYPE_SATS[self]


_TYPE_SATS = {
    Periodetype.UKEDAG: "DAG",
    Periodetype.DAG: "DAG7",
    Periodetype.MND: "MND",
    Periodetype.EN_GANG: "ENG",
}


class Action(StrEnum):
    CREATE = "CREATE"
    UPDATE = "UPDATE"
    DELETE = "DELETE"


class StatusKind(StrEnum):
    MOTTATT = "MOTTATT"
    HOS_OPPDRAG = "HOS_OPPDRAG"
    OK = "OK"
    FEILET = "FEILET"


@picklable
@dataclass(frozen=True, slots=True)
class Stønad:
    """A benefit type and the Oppdrag codes it is paid under."""

    name: str
    klassekode: str
    fagområde: str
    periodetype: Periodetype


@picklable
@dataclass(frozen=True, slots=True)
class SakKey:
    """State is kept per (sakId, fagsystem)."""

    sak_id: str
    fagsystem: Fagsystem

    def as_json_text(self) -> str:
        """The key of `helved.saker.v1` and the routing key of the sak step (spec §2):
        `{"sakId":"SAK-17","fagsystem":"AAP"}`, byte-stable, valid JSON for any sakId.

        Written directly when neither part needs escaping (printable, no quote or backslash:
        `json.dumps` with `ensure_ascii=False` then writes them as they are), else by
        `json.dumps`; the same text either way, a tenth of the time."""
        sak_id, fagsystem = self.sak_id, self.fagsystem.value
        if sak_id.isprintable() and '"' not in sak_id and "\\" not in sak_id and fagsystem.isalpha():
            return '{"sakId":"' + sak_id + '","fagsystem":"' + fagsystem + '"}'
        return json.dumps({"sakId": sak_id, "fagsystem": fagsystem}, ensure_ascii=False, separators=(",", ":"))


@picklable
@dataclass(frozen=True, slots=True)
class Periode:
    fom: date
    tom: date
    beløp: int
    vedtakssats: int | None = None
    betalende_enhet: str | None = None


@picklable
@dataclass(frozen=True, slots=True)
class Tail:
    """The last NY line sent on a chain: where the next line chains to, what an opphør targets."""

    delytelse_id: str
    periode: Periode


@dataclass(frozen=True, slots=True)
class Utbetaling:
    """One payment chain (uid): its identity, its locked fields and its current periods.

    `action` and `tail` are set once the utbetaling has been put in an Oppdrag; an utbetaling
    freshly split from a request has neither.

    Pickled (a recovery snapshot) as `unpack_utbetaling(...)` with its values: dates as day
    numbers, a tail whose period is the last period without it. Pickle writes an object it has
    written before as a reference, so the values the utbetalinger of a sak share (sakId, ident,
    the decision's time and people, the stønad) are written once per snapshot, and come back
    shared. The changelog holds it by its fields (`utbetaling_by_fields`, `helved.statelog`).
    """

    uid: str
    sak_id: str
    fagsystem: Fagsystem
    behandling_id: str
    ident: str
    stønad: Stønad
    vedtakstidspunkt: datetime
    saksbehandler: str
    beslutter: str
    perioder: tuple[Periode, ...]
    action: Action | None = None
    tail: Tail | None = None

    @property
    def sak_key(self) -> SakKey:
        return SakKey(self.sak_id, self.fagsystem)

    @property
    def active(self) -> bool:
        return self.action is not Action.DELETE

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        perioder, tail = self.perioder, self.tail
        packed_tail: tuple[str] | tuple[str, PlainPeriode] | None = None
        if tail is not None:
            last = perioder[-1] if perioder else None
            if tail.periode is last or tail.periode == last:
                packed_tail = (tail.delytelse_id,)
            else:
                packed_tail = (tail.delytelse_id, _plain_periode(tail.periode))
        return (
            unpack_utbetaling,
            (
                self.uid,
                self.sak_id,
                self.fagsystem,
                self.behandling_id,
                self.ident,
                self.stønad,
                self.vedtakstidspunkt,
                self.saksbehandler,
                self.beslutter,
                tuple([_plain_periode(p) for p in perioder]),
                self.action,
                packed_tail,
            ),
        )


_UTBETALING_FIELDS = operator.attrgetter(*(f.name for f in dataclasses.fields(Utbetaling)))


def utbetaling_by_fields(u: Utbetaling) -> tuple[Any, tuple[Any, ...]]:
    """The plain reduce of an utbetaling, `Utbetaling(*fields)` (how the changelog holds it)."""
    return (Utbetaling, _UTBETALING_FIELDS(u))


# A period as a snapshot holds it: (fom, tom) as day numbers, beløp, vedtakssats, betalende enhet.
PlainPeriode = tuple[int, int, int, int | None, str | None]


def _plain_periode(p: Periode) -> PlainPeriode:
    return (p.fom.toordinal(), p.tom.toordinal(), p.beløp, p.vedtakssats, p.betalende_enhet)


# Restoring saker makes every period from its plain values; without these every period would
# have its own dates and amounts, the same calendar days and the same few amounts over and
# over: 148 of ~740 bytes of objects per utbetaling (`helved bench`, scale section: saker of 20).
# Equal values, shared objects (nothing compares dates or amounts by identity).
_SHARED_MAX = 1 << 16  # at most this many dates and this many amounts are kept for sharing
_DATES: dict[int, date] = {}


class SharedValues:
    """Equal values as one object: `shared(x)` is the first value equal to `x` it was given, up
    to `limit` distinct values (then `x` itself). For restored state, where equal values made
    apart would otherwise each take their own memory."""

    __slots__ = ("_limit", "_seen")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._seen: dict[object, object] = {}

    def __call__(self, x: T) -> T:
        got = self._seen.get(x)
        if got is None:
            if len(self._seen) < self._limit:
                self._seen[x] = x
            return x
        return got  # type: ignore[return-value]


_shared_amount = SharedValues(_SHARED_MAX)


def _shared_date(ordinal: int) -> date:
    d = _DATES.get(ordinal)
    if d is None:
        d = date.fromordinal(ordinal)
        if len(_DATES) < _SHARED_MAX:
            _DATES[ordinal] = d
    return d


def _shared_periode(p: PlainPeriode) -> Periode:
    vedtakssats = p[3]
    return Periode(
        _shared_date(p[0]),
        _shared_date(p[1]),
        _shared_amount(p[2]),
        None if vedtakssats is None else _shared_amount(vedtakssats),
        p[4],
    )


def unpack_utbetaling(
    uid: str,
    sak_id: str,
    fagsystem: Fagsystem,
    behandling_id: str,
    ident: str,
    stønad: Stønad,
    vedtakstidspunkt: datetime,
    saksbehandler: str,
    beslutter: str,
    perioder: tuple[PlainPeriode, ...],
    action: Action | None,
    tail: tuple[str] | tuple[str, PlainPeriode] | None,
) -> Utbetaling:
    """An utbetaling from a snapshot (`Utbetaling.__reduce__`; snapshots name this function:
    never rename or move it).

    The sakId, ident and people are interned: utbetalinger of one sak made by different
    decisions hold equal strings that are different objects (each decision's message was read
    on its own), which a snapshot writes, and would restore, once per decision."""
    ps = tuple([_shared_periode(p) for p in perioder])
    intern = sys.intern
    return Utbetaling(
        uid,
        intern(sak_id),
        fagsystem,
        behandling_id,
        intern(ident),
        stønad,
        vedtakstidspunkt,
        intern(saksbehandler),
        intern(beslutter),
        ps,
        action,
        None if tail is None else Tail(tail[0], ps[-1] if len(tail) == 1 else _shared_periode(tail[1])),
    )


# -- Snapshots written before (issue 18, first round): `StoredUtbetaling(blob, uid)` ------------


class _PlainUnpickler(pickle.Unpickler):
    """Reads an utbetaling's bytes as snapshots held them before, and nothing else: plain
    values, no class can be named (a changelog record is read with an allow-list; so is what
    it holds)."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"an utbetaling's bytes cannot hold {module}.{name}")


_STØNADER: dict[tuple[str, str, str, str], Stønad] = {}
# The last (vedtakstidspunkt text, vedtakstidspunkt) read: a sak's utbetalinger are read one
# after the other and most share their decision's time.
_LAST_VEDTAK: tuple[str, datetime] = ("", datetime.min)


class StoredUtbetaling:
    """How snapshots held an `Utbetaling` before: `StoredUtbetaling(blob, uid)`, its values
    but the uid pickled apart (plain values: dates as day numbers, the naive vedtakstidspunkt
    in ISO form). Read so that restored utbetalinger share what they have in common, as
    `unpack_utbetaling` does."""

    def __new__(cls, blob: bytes, uid: str) -> Utbetaling:  # type: ignore[misc]
        global _LAST_VEDTAK
        sak_id, fagsystem, behandling_id, ident, st, vedtak, sb, bs, ps, action, tail = _PlainUnpickler(
            io.BytesIO(blob)
        ).load()
        stønad = _STØNADER.get(st)
        if stønad is None:
            stønad = Stønad(st[0], st[1], st[2], Periodetype(st[3]))
            if len(_STØNADER) < 1024:
                _STØNADER[st] = stønad
        last = _LAST_VEDTAK
        if last[0] == vedtak:
            vedtakstidspunkt = last[1]
        else:
            vedtakstidspunkt = datetime.fromisoformat(vedtak)
            _LAST_VEDTAK = (vedtak, vedtakstidspunkt)
        perioder = tuple([_shared_periode(p) for p in ps])
        intern = sys.intern
        return Utbetaling(
            uid,
            intern(sak_id),
            Fagsystem(fagsystem),
            intern(behandling_id),
            intern(ident),
            stønad,
            vedtakstidspunkt,
            intern(sb),
            intern(bs),
            perioder,
            None if action is None else Action(action),
            None
            if tail is None
            else Tail(tail[0], perioder[-1] if perioder and tail[1] == ps[-1] else _shared_periode(tail[1])),
        )


@picklable
@dataclass(frozen=True, slots=True)
class Avvent:
    """An `avvent-118` on the Oppdrag (AAP): OS holds the payment for the period. `årsak` is
    OS's code (AVAV, AVRK) or None; `feilregistrering` is written `J`/`N`."""

    fom: date
    tom: date
    overføres: date | None = None
    årsak: str | None = None
    feilregistrering: bool = False


@picklable
@dataclass(frozen=True, slots=True)
class Source:
    """Where a request or receipt came from: enough to put the raw record on the DLQ."""

    topic: str
    partition: int
    offset: int
    key: str | None
    timestamp_ms: int | None
    value: bytes | None = field(default=None, compare=False, repr=False)
    headers: tuple[tuple[str, bytes], ...] = field(default=(), compare=False, repr=False)


@picklable
@dataclass(frozen=True, slots=True)
class Request:
    """A payment decision for one sak, already split into utbetalinger.

    `whole_sak` means the sender always sends every utbetaling of the sak (dagpenger, AAP,
    tiltakspenger): an active uid missing from the request is stopped. `stops` lists uids the
    sender asked to stop explicitly (tilleggsstønader, historisk, valp).
    """

    original_key: str | None
    sak_key: SakKey
    behandling_id: str
    ident: str
    vedtakstidspunkt: datetime
    saksbehandler: str
    beslutter: str
    dryrun: bool
    utbetalinger: tuple[Utbetaling, ...]
    whole_sak: bool = True
    stops: tuple[str, ...] = ()
    # Avstemming time (Europe/Oslo wall time) derived from the record, never from the clock.
    avstemming: datetime | None = None
    source: Source | None = field(default=None, compare=False, repr=False)
    # `utbetFrekvens` of its Oppdrag: MND, except HISTORISK (ENG).
    utbet_frekvens: str = "MND"
    # AAP's avvent: compared like the periods (settled rule 9); None for every other sender.
    avvent: Avvent | None = None
    # The stønad a stop names for its uid (TS, historisk, valp): a stop is checked against the
    # confirmed utbetaling's locked fields too (settled rule 8).
    stop_stønader: tuple[tuple[str, Stønad], ...] = ()


class LinjeKind(StrEnum):
    NY = "NY"
    OPPH = "OPPH"


@picklable
@dataclass(frozen=True, slots=True)
class Linje:
    """One `oppdrags-linje-150`."""

    kind: LinjeKind
    uid: str
    delytelse_id: str
    ref_delytelse_id: str | None
    klassekode: str
    periodetype: Periodetype
    periode: Periode
    opphør_fom: date | None
    vedtaksdato: date
    saksbehandler: str
    beslutter: str
    utbetales_til: str
    henvisning: str


@picklable
@dataclass(frozen=True, slots=True)
class Oppdrag:
    """One atomic order to OS for one sak (spec §6)."""

    kode_endring: str  # NY | ENDR
    fagområde: str
    fagsystem_id: str
    utbet_frekvens: str
    oppdrag_gjelder_id: str
    saksbehandler: str
    avstemming: datetime
    betalende_enhet: str | None
    linjer: tuple[Linje, ...]
    # AAP: OS holds the payment (`avvent-118`); an Oppdrag may carry only this and no lines.
    avvent: Avvent | None = None

    @property
    def delytelse_ids(self) -> frozenset[str]:
        return frozenset(linje.delytelse_id for linje in self.linjer)

    @property
    def enheter(self) -> tuple[tuple[str, str], ...]:
        """`(typeEnhet, enhet)` of `oppdrags-enhet-120` (spec §6): BOS 8020, or, when a period
        has a betalende enhet E, BOS with E and then BEH with 8020."""
        if self.betalende_enhet:
            return (("BOS", self.betalende_enhet), ("BEH", DEFAULT_ENHET))
        return (("BOS", DEFAULT_ENHET),)

    @property
    def line_fingerprints(self) -> frozenset[tuple[str, ...]]:
        return frozenset(
            line_fingerprint(
                ln.delytelse_id,
                ln.opphør_fom.isoformat() if ln.opphør_fom else "",
                ln.periode.fom.isoformat(),
                ln.periode.tom.isoformat(),
                str(ln.periode.beløp),
                ln.ref_delytelse_id or "",
            )
            for ln in self.linjer
        )

    @property
    def nokkel_avstemming(self) -> str:
        """`yyyy-MM-dd-HH.mm.ss.SSSSSS`, OS's avstemming key and message time."""
        t = self.avstemming
        return t.strftime("%Y-%m-%d-%H.%M.%S.") + f"{t.microsecond:06d}"

    @property
    def uids(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for linje in self.linjer:
            seen.setdefault(linje.uid, None)
        return tuple(seen)


@picklable
@dataclass(frozen=True, slots=True)
class Kvittering:
    """OS's receipt, reduced to what matching and the status need (spec §7)."""

    fagområde: str
    fagsystem_id: str
    alvorlighetsgrad: str | None
    kode_melding: str | None
    beskr_melding: str | None
    delytelse_ids: frozenset[str]
    henvisninger: frozenset[str]
    # What each line says (see `line_fingerprint`) and the avstemming key, when echoed: two
    # Oppdrag of a sak can have the same delytelseIds (opphør lines reuse the chain's tail id).
    linjer: frozenset[tuple[str, ...]] | None = None
    nokkel_avstemming: str | None = None


def line_fingerprint(
    delytelse_id: str, opphør_fom: str, fom: str, tom: str, sats: str, ref_delytelse_id: str
) -> tuple[str, ...]:
    """What identifies a line of an Oppdrag within its sak: its id, what it stops from, its
    period, amount and chain reference. Dates as `YYYY-MM-DD`, amounts as integer text."""
    return (delytelse_id, opphør_fom, fom, tom, sats, ref_delytelse_id)
