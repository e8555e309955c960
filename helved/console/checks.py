"""The dashboard's consistency checks over the archive (issue 16): what the pipeline's own state
cannot show an operator, derived only from what the topics hold.

- `open_ms`: how much of a span lies inside OS's opening hours (06-21 Europe/Oslo on Norwegian
  working days, `helved.domain.avstemming.is_working_day`); an Oppdrag is *stuck* when it has
  waited over an hour of that for its receipt (`stuck`), nights, weekends and holidays not
  counted.
- `pending_mismatches`: an utbetaling still pending long after its Oppdrag's receipt, or
  confirmed without an accepted receipt (rules at the function).
- `double_payments`: suspected double payments (the rule at the function).

Pure reads; replays (`archive` step 4) are left out throughout.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from lxml import etree

from helved.console.archive import records
from helved.console.queries import json_or_none
from helved.domain.avstemming import is_working_day

R = records
OSLO = ZoneInfo("Europe/Oslo")
OPENS, CLOSES = time(6), time(21)
DAY_MS = 86_400_000
ACCEPTED = ("00", "04")
# An utbetaling still pending this long after its Oppdrag's receipt is a mismatch: the pipeline
# clears the pending record (a tombstone) as it applies the receipt, within seconds.
PENDING_GRACE_MS = 15 * 60_000
# Double payments are looked for in the saker with an Oppdrag accepted within this long before
# the newest Oppdrag archived (a new suspicion needs a new Oppdrag), at most `MAX_SAKER` of them.
RECENT_MS = 31 * DAY_MS
MAX_SAKER = 500


# ---------------------------------------------------------------------------------------------
# OS's opening hours


def _ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def open_ms(start_ms: int, end_ms: int, enough_ms: int | None = None) -> int:
    """Milliseconds of [start_ms, end_ms) inside OS's opening hours: 06:00-21:00 Europe/Oslo wall
    time (so 15 hours also on the days clocks change) on a Norwegian working day. Stops counting
    once `enough_ms` is reached (a long-stuck Oppdrag costs no loop over years)."""
    if end_ms <= start_ms:
        return 0
    first = datetime.fromtimestamp(start_ms / 1000, OSLO).date()
    last = datetime.fromtimestamp(end_ms / 1000, OSLO).date()
    total = 0
    d = first
    while d <= last:
        if is_working_day(d):
            lo = max(start_ms, _ms(datetime.combine(d, OPENS, OSLO)))
            hi = min(end_ms, _ms(datetime.combine(d, CLOSES, OSLO)))
            if hi > lo:
                total += hi - lo
                if enough_ms is not None and total >= enough_ms:
                    return total
        d += timedelta(days=1)
    return total


def stuck(candidates: list[dict[str, Any]], now_ms: int, flight_ms: int) -> list[dict[str, Any]]:
    """The Oppdrag of `candidates` (in flight, sent over `flight_ms` ago by the wall clock) that
    have waited over `flight_ms` inside OS's opening hours; each with `openMs` (at most 100
    times `flight_ms`, then `openAtLeast`), in the candidates' order."""
    out = []
    enough = max(flight_ms, 1) * 100  # past this many, "at least": no loop over years of days
    for o in candidates:
        ts = o.get("timestamp")
        if ts is None:
            continue
        waited = open_ms(ts, now_ms, enough_ms=enough)
        if waited > flight_ms:
            out.append({**o, "openMs": min(waited, enough), "openAtLeast": waited >= enough})
    return out


# ---------------------------------------------------------------------------------------------
# Pending and confirmed against the receipts


def _header(headers: list[list[str]] | None, name: str) -> str | None:
    for n, v in headers or []:
        if n == name:
            return v
    return None


def _latest_per_uid(kind: str) -> Any:
    return (
        sa.select(sa.func.max(R.c.id).label("id"))
        .where(R.c.kind == kind)
        .where(R.c.replay.is_(False))
        .where(R.c.uid.is_not(None))
        .group_by(R.c.uid)
        .subquery()
    )


def _summary(row: Any) -> dict[str, Any]:
    m = row._mapping
    body = json_or_none(m["body"]) if "body" in m else None
    return {
        "id": m["id"],
        "uid": m["uid"],
        "sakId": m["sak_id"],
        "fagsystem": m["fagsystem"],
        "originalKey": m["original_key"],
        "timestamp": m["timestamp_ms"],
        "action": m["code"],
        "stønad": (body or {}).get("stønad") if isinstance(body, dict) else None,
    }


def pending_mismatches(conn: sa.Connection, now_ms: int, grace_ms: int = PENDING_GRACE_MS) -> list[dict[str, Any]]:
    """Utbetalinger whose pending and confirmed records disagree with the receipts:

    - `still-pending`: the last record of the uid on the pending topic is an utbetaling (not the
      tombstone that clears it) and an Oppdrag of the request that made it pending, one whose
      `uids` header names the uid, has a receipt (any grade) that is over `grace_ms` old: the
      receipt was not applied (unmatched, or the pipeline stopped), so the sak waits;
    - `confirmed-without-receipt`: the last record of the uid on the utbetalinger topic is an
      utbetaling and the request that confirmed it (its `original-key` header) has no accepted
      (00/04) receipt in the archive: helved made current what OS never accepted (or the
      archive misses the receipt). Checked per request, not per Oppdrag of a request that sent
      several.

    Oldest first."""
    out: list[dict[str, Any]] = []
    # still pending
    last = _latest_per_uid("pending")
    pending = conn.execute(
        sa.select(R.c.id, R.c.uid, R.c.sak_id, R.c.fagsystem, R.c.original_key, R.c.timestamp_ms, R.c.code, R.c.body)
        .join(last, R.c.id == last.c.id)
        .where(R.c.tombstone.is_(False))
        .where(R.c.original_key.is_not(None))
    ).all()
    keys = {p.original_key for p in pending}
    if keys:
        oppdrag = conn.execute(
            sa.select(R.c.id, R.c.original_key, R.c.ref, R.c.headers)
            .where(R.c.kind == "oppdrag")
            .where(R.c.replay.is_(False))
            .where(R.c.original_key.in_(keys))
        ).all()
        receipts = conn.execute(
            sa.select(R.c.id, R.c.original_key, R.c.ref, R.c.code, R.c.timestamp_ms)
            .where(R.c.kind == "kvittering")
            .where(R.c.original_key.in_(keys))
            .order_by(R.c.id)
        ).all()
        by_oppdrag: dict[tuple[str, str | None], list[Any]] = defaultdict(list)
        for k in receipts:
            by_oppdrag[(k.original_key, k.ref)].append(k)
        uids_of: dict[str, list[tuple[Any, set[str]]]] = defaultdict(list)
        for o in oppdrag:
            uids = {u for u in (_header(o.headers, "uids") or "").split(",") if u}
            uids_of[o.original_key].append((o, uids))
        for p in pending:
            for o, uids in uids_of.get(p.original_key, []):
                if p.uid not in uids:
                    continue
                answered = [k for k in by_oppdrag.get((o.original_key, o.ref), []) if k.timestamp_ms is not None]
                if answered and answered[0].timestamp_ms < now_ms - grace_ms:
                    k = answered[0]
                    out.append(
                        {
                            **_summary(p),
                            "kind": "still-pending",
                            "oppdragId": o.id,
                            "receiptId": k.id,
                            "receiptCode": k.code,
                            "since": k.timestamp_ms,
                            "why": f"still pending after its Oppdrag's receipt ({k.code or '?'})",
                        }
                    )
                    break
    # confirmed without an accepted receipt
    last = _latest_per_uid("utbetaling")
    kv = R.alias("kv")
    accepted = (
        sa.select(kv.c.id)
        .where(kv.c.kind == "kvittering")
        .where(kv.c.original_key == R.c.original_key)
        .where(kv.c.code.in_(ACCEPTED))
        .exists()
    )
    for c in conn.execute(
        sa.select(R.c.id, R.c.uid, R.c.sak_id, R.c.fagsystem, R.c.original_key, R.c.timestamp_ms, R.c.code, R.c.body)
        .join(last, R.c.id == last.c.id)
        .where(R.c.tombstone.is_(False))
        .where(~accepted)
        .order_by(R.c.id)
        .limit(200)
    ):
        out.append(
            {
                **_summary(c),
                "kind": "confirmed-without-receipt",
                "since": c.timestamp_ms,
                "why": "confirmed, but its request has no accepted (00/04) receipt in the archive",
            }
        )
    out.sort(key=lambda m: (m["since"] or 0, m["id"]))
    return out


# ---------------------------------------------------------------------------------------------
# Suspected double payments


_XML = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False)


def _local(el: Any) -> str | None:
    return el.tag.rsplit("}", 1)[-1] if isinstance(el.tag, str) else None


def _child_text(el: Any, name: str) -> str | None:
    for c in el:
        if _local(c) == name:
            text = (c.text or "").strip()
            return text or None
    return None


def _date(text: str | None) -> date | None:
    if not text or len(text) < 10:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Linje:
    endring: str  # NY | ENDR
    status: str | None  # OPPH on an opphør
    status_fom: date | None
    delytelse: str | None
    ref: str | None
    klasse: str
    fom: date | None
    tom: date | None
    sats: str
    type_sats: str


def oppdrag_lines(xml: str | bytes | None) -> tuple[str | None, str | None, list[Linje]]:
    """(kodeFagomraade, fagsystemId, lines) of an Oppdrag document; ([], None...) when unreadable."""
    if not xml:
        return None, None, []
    try:
        root = etree.fromstring(xml.encode() if isinstance(xml, str) else xml, _XML)
    except (etree.XMLSyntaxError, ValueError):
        return None, None, []
    o110 = next((c for c in root if _local(c) == "oppdrag-110"), None)
    if o110 is None:
        return None, None, []
    lines = [
        Linje(
            endring=_child_text(el, "kodeEndringLinje") or "",
            status=_child_text(el, "kodeStatusLinje"),
            status_fom=_date(_child_text(el, "datoStatusFom")),
            delytelse=_child_text(el, "delytelseId"),
            ref=_child_text(el, "refDelytelseId"),
            klasse=_child_text(el, "kodeKlassifik") or "",
            fom=_date(_child_text(el, "datoVedtakFom")),
            tom=_date(_child_text(el, "datoVedtakTom")),
            sats=_child_text(el, "sats") or "0",
            type_sats=_child_text(el, "typeSats") or "",
        )
        for el in o110
        if _local(el) == "oppdrags-linje-150"
    ]
    return _child_text(o110, "kodeFagomraade"), _child_text(o110, "fagsystemId"), lines


@dataclass
class _Booked:
    line: Linje
    kjede: str
    stopped_from: date | None = None

    def effective(self) -> tuple[date, date] | None:
        fom = self.line.fom
        if fom is None:
            return None
        tom = self.line.tom or fom
        if self.line.type_sats == "ENG":
            tom = fom
        if self.stopped_from is not None:
            tom = min(tom, self.stopped_from - timedelta(days=1))
        return (fom, tom) if tom >= fom else None


@dataclass
class _Ledger:
    """One (fagområde, fagsystemId) as OS books it (domain.md §5.4): a NY line without
    refDelytelseId starts a kjede; one with a ref joins the referenced line's kjede and replaces
    it from its fom; an opphør stops the line's kjede from datoStatusFom."""

    lines: dict[str, _Booked] = field(default_factory=dict)
    kjeder: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    origin: dict[str, dict[str, Any]] = field(default_factory=dict)  # kjede -> the Oppdrag that began it
    partial: set[str] = field(default_factory=set)  # kjeder referring to lines not archived

    def _stop(self, kjede: str, d: date | None) -> None:
        if d is None:
            return
        for did in self.kjeder.get(kjede, []):
            b = self.lines[did]
            if b.stopped_from is None or d < b.stopped_from:
                b.stopped_from = d

    def book(self, oppdrag: dict[str, Any], lines: list[Linje]) -> None:
        for line in lines:
            if line.endring == "ENDR" and line.status == "OPPH":
                target = self.lines.get(line.delytelse or "")
                if target is not None:
                    self._stop(target.kjede, line.status_fom)
                continue
            if line.endring != "NY" or not line.delytelse:
                continue
            if line.ref:
                ref = self.lines.get(line.ref)
                if ref is None:  # the archive misses what it chains to: judge nothing of it
                    kjede = line.delytelse
                    self.partial.add(kjede)
                    self.origin[kjede] = oppdrag
                else:
                    kjede = ref.kjede
                    self._stop(kjede, line.fom)
            else:
                kjede = line.delytelse
                self.origin[kjede] = oppdrag
            self.lines[line.delytelse] = _Booked(line, kjede)
            self.kjeder[kjede].append(line.delytelse)


def _pays_in(a: _Booked, lo: date, hi: date) -> bool:
    """Whether a line of this type pays a day in [lo, hi] (DAG: a weekday)."""
    if a.line.type_sats != "DAG":
        return True
    d = lo
    for _ in range(7):
        if d > hi:
            return False
        if d.weekday() < 5:
            return True
        d += timedelta(days=1)
    return True


def _nonzero(sats: str) -> bool:
    try:
        return float(sats) != 0
    except ValueError:
        return True


def suspects(ledger: _Ledger) -> list[dict[str, Any]]:
    """Pairs of kjeder begun by two different Oppdrag whose lines pay the same klassekode on
    overlapping effective days (what is left after replacements and opphør)."""
    found: list[dict[str, Any]] = []
    by_klasse: dict[str, list[tuple[_Booked, tuple[date, date]]]] = defaultdict(list)
    for b in ledger.lines.values():
        eff = b.effective()
        if eff is None or not _nonzero(b.line.sats) or b.kjede in ledger.partial:
            continue
        by_klasse[b.line.klasse].append((b, eff))
    seen: set[tuple[str, str]] = set()
    for klasse, booked in by_klasse.items():
        for i, (a, ea) in enumerate(booked):
            for b, eb in booked[i + 1 :]:
                if a.kjede == b.kjede:
                    continue
                first, later = ledger.origin[a.kjede], ledger.origin[b.kjede]
                if first["id"] == later["id"]:
                    continue
                lo, hi = max(ea[0], eb[0]), min(ea[1], eb[1])
                if lo > hi or not (_pays_in(a, lo, hi) and _pays_in(b, lo, hi)):
                    continue
                pair = tuple(sorted((a.kjede, b.kjede)))
                if pair in seen:
                    continue
                seen.add(pair)  # type: ignore[arg-type]
                if first["id"] > later["id"]:
                    first, later, a, b = later, first, b, a
                found.append(
                    {
                        "klassekode": klasse,
                        "fom": lo.isoformat(),
                        "tom": hi.isoformat(),
                        "first": {**first, "delytelseId": a.line.delytelse},
                        "later": {**later, "delytelseId": b.line.delytelse},
                    }
                )
    return found


def double_payments(
    conn: sa.Connection, *, recent_ms: int = RECENT_MS, max_saker: int = MAX_SAKER
) -> list[dict[str, Any]]:
    """Suspected double payments. The rule: two Oppdrag of one sak (one fagområde and
    fagsystemId), both accepted by OS (a 00 or 04 receipt archived), whose NY lines pay the same
    klassekode on overlapping days — the days each line still pays after every later
    replacement (a NY line chained to it) and opphør of its kjede, in archive order — while the
    later line does not chain to the earlier one (it began a kjede of its own rather than
    replacing the earlier line). OS pays both: the same day twice under one klassekode.

    Looked for in the saker with an Oppdrag accepted within `recent_ms` of the newest Oppdrag
    archived (at most `max_saker`), each over its whole archived history; a kjede whose
    refDelytelseId points at a line the archive does not hold is not judged."""
    k = R.alias("k")
    accepted = (
        sa.select(k.c.id)
        .where(k.c.kind == "kvittering")
        .where(k.c.original_key == R.c.original_key)
        .where(k.c.ref == R.c.ref)
        .where(k.c.code.in_(ACCEPTED))
        .exists()
    )
    base = sa.select(R.c.id).where(R.c.kind == "oppdrag").where(R.c.replay.is_(False)).where(R.c.tombstone.is_(False))
    newest = conn.execute(
        sa.select(sa.func.max(R.c.timestamp_ms)).where(R.c.kind == "oppdrag").where(R.c.replay.is_(False))
    ).scalar_one()
    if newest is None:
        return []
    saker = conn.execute(
        sa.select(R.c.sak_id, R.c.fagsystem)
        .where(R.c.id.in_(base.where(R.c.timestamp_ms >= newest - recent_ms).where(accepted)))
        .where(R.c.sak_id.is_not(None))
        .distinct()
        .limit(max_saker)
    ).all()
    found: list[dict[str, Any]] = []
    where = str(conn.engine.url)
    for sak_id, fagsystem in saker:
        of_sak = (
            sa.select(R.c.id, R.c.original_key, R.c.ref, R.c.timestamp_ms)
            .where(R.c.sak_id == sak_id)
            .where(R.c.fagsystem == fagsystem if fagsystem is not None else R.c.fagsystem.is_(None))
            .where(R.c.kind == "oppdrag")
            .where(R.c.replay.is_(False))
            .where(R.c.tombstone.is_(False))
            .where(accepted)
            .order_by(R.c.id)
        )
        heads = conn.execute(of_sak).all()
        # A sak's verdict changes only with the set of its accepted Oppdrag: parse them again only then.
        key = (where, sak_id, fagsystem, tuple(h.id for h in heads))
        with _CACHE_LOCK:
            cached = _CACHE.get(key)
        if cached is None:
            bodies = dict(conn.execute(sa.select(R.c.id, R.c.body).where(R.c.id.in_([h.id for h in heads]))).all())
            ledgers: dict[tuple[str | None, str | None], _Ledger] = defaultdict(_Ledger)
            for h in heads:
                fagomrade, fagsystem_id, lines = oppdrag_lines(bodies.get(h.id))
                ref = {"id": h.id, "originalKey": h.original_key, "ref": h.ref, "timestamp": h.timestamp_ms}
                ledgers[(fagomrade, fagsystem_id)].book(ref, lines)
            cached = [
                {"sakId": sak_id, "fagsystem": fagsystem, "fagområde": fagomrade, **s}
                for (fagomrade, _fid), ledger in ledgers.items()
                for s in suspects(ledger)
            ]
            with _CACHE_LOCK:
                if len(_CACHE) >= _CACHE_SIZE:
                    _CACHE.pop(next(iter(_CACHE)))
                _CACHE[key] = cached
        found.extend(cached)
    found.sort(key=lambda s: -s["later"]["id"])
    return found


# (database, sak, fagsystem, its accepted Oppdrag's ids) -> the suspects found; oldest dropped first.
_CACHE: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
_CACHE_SIZE = 4 * MAX_SAKER
_CACHE_LOCK = threading.Lock()
