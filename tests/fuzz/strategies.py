"""Hypothesis strategies for the fuzzing suite: valid decisions to build on, hostile requests
(every field of `DpUtbetaling` with wrong types, extremes, unicode and sizes; bytes that are not
JSON or nest too deep) and hostile receipts (OS's real receipt of an Oppdrag, mutated: numbers,
dates, ids, codes, elements missing, duplicated or added, entities, comments, namespace prefixes,
truncated bytes).

Every hostile value is broken *by construction* (spec §3, §7, §9): a test may then demand that
it is rejected, and compare everything else with a run without it. Benign changes (OS's padding,
another prefix, elements helved does not read) are kept apart, in `benign_receipt`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from xml.sax.saxutils import escape, unescape

from hypothesis import strategies as st

from helved.emulator.xml import with_prefix

# -- valid decisions ---------------------------------------------------------------------------

IDENT = "12345678910"
MONDAYS = tuple(date(2025, 6, 2) + timedelta(weeks=2 * k) for k in range(6))
WEEKDAY_OFFSETS = (0, 1, 2, 3, 4, 7, 8, 9, 10, 11)  # the 10 weekdays of a 14-day meldeperiode
AMOUNTS = (0, 400, 700, 1000)

# Ids as senders may write them: letters of any script, digits, punctuation, XML's specials.
ID_CHARS = st.characters(codec="utf-8", categories=("L", "N", "P", "S"))
ids = st.text(ID_CHARS, min_size=1, max_size=30).filter(lambda s: s == s.strip() and s.isprintable())


def label(k: int) -> str:
    start = MONDAYS[k]
    return f"{start.isoformat()}/{(start + timedelta(days=13)).isoformat()}"


@st.composite
def paid_days(draw: st.DrawFn, at_least_one: bool = False) -> list[dict[str, Any]]:
    """The days of a whole sak (spec §3): up to 3 meldeperioder, weekdays only, some not paid
    (0), now and then a ferietillegg on any day of the period (weekends too)."""
    periods = sorted(draw(st.sets(st.integers(0, len(MONDAYS) - 1), min_size=1 if at_least_one else 0, max_size=3)))
    days: list[dict[str, Any]] = []
    for k in periods:
        sats = draw(st.sampled_from((1000, 1200)))
        amounts = draw(st.lists(st.sampled_from(AMOUNTS), min_size=10, max_size=10))
        for off, beløp in zip(WEEKDAY_OFFSETS, amounts, strict=True):
            days.append(_day(label(k), MONDAYS[k] + timedelta(days=off), beløp, sats, "Dagpenger"))
        if draw(st.integers(0, 4)) == 0:
            when = MONDAYS[k] + timedelta(days=draw(st.integers(0, 13)))
            days.append(_day(label(k), when, 500, 500, "DagpengerFerietillegg"))
    if at_least_one and not any(d["utbetaltBeløp"] for d in days):
        days[0]["utbetaltBeløp"] = 1000
    return draw(st.permutations(days)) if draw(st.booleans()) else days


def _day(meldeperiode: str, dato: date | str, beløp: Any, sats: Any, typ: Any) -> dict[str, Any]:
    return {
        "meldeperiode": meldeperiode,
        "dato": dato if isinstance(dato, str) else dato.isoformat(),
        "sats": sats,
        "utbetaltBeløp": beløp,
        "utbetalingstype": typ,
    }


def decision(
    sak: str, behandling: str, days: list[dict[str, Any]], vedtak: str = "2025-08-18T09:30:00"
) -> dict[str, Any]:
    return {
        "sakId": sak,
        "behandlingId": behandling,
        "ident": IDENT,
        "vedtakstidspunktet": vedtak,
        "saksbehandler": "Z123456",
        "beslutter": "Z654321",
        "utbetalinger": days,
    }


def expected_paid(days: list[dict[str, Any]]) -> dict[str, dict[date, int]]:
    """What OS pays after this decision (spec §4: the whole sak): klassekode -> day -> beløp."""
    out: dict[str, dict[date, int]] = {}
    for d in days:
        if d["utbetaltBeløp"]:
            klasse = "DAGPENGER" if d["utbetalingstype"] == "Dagpenger" else "DAGPENGERFERIE"
            out.setdefault(klasse, {})[date.fromisoformat(d["dato"])] = d["utbetaltBeløp"]
    return {k: dict(sorted(v.items())) for k, v in sorted(out.items())}


# -- hostile requests ----------------------------------------------------------------------------

TEXT = st.text(st.characters(codec="utf-8"), max_size=40)
# What an XML text may hold (no control characters, no U+FFFE/U+FFFF).
XML_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Cn")), max_size=40)
BIG_TEXT = st.sampled_from((10_000, 300_000)).map(lambda n: "\u00e6" * n)
NOT_STR = st.one_of(
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
NOT_INT = st.one_of(
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=1),
)
CONTROL = st.sampled_from(["\t", "\n", "\r", "\x00", "\x1f", "\x7f", "\u0085", "\u2028", "\u200b", "\ufeff"])

BAD_DATES = st.one_of(
    st.sampled_from(
        [
            "2025-W32-1",
            "2025W321",
            "2025-216",
            "20250804",
            "2025-08-4",
            "2025-8-04",
            "04.08.2025",
            "2025-02-30",
            "2025-13-01",
            "2025-00-10",
            "1899-12-29",
            "0001-01-01",
            "0000-01-01",
            "-2025-08-04",
            "+2025-08-04",
            "10000-01-01",
            "2025-08-04T00:00",
            "2025-08-04 ",
            " 2025-08-04",
            "2025-08-04Z",
            "\uff12\uff10\uff12\uff15-08-04",
            "\u0662\u0660\u0662\u0665-08-04",
            "",
            "x" * 10,
        ]
    ),
    TEXT.filter(lambda s: re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", s, re.ASCII) is None),
)
BAD_DATETIMES = st.one_of(
    st.sampled_from(
        [
            "2025-08-18",
            "2025-W34-1T09:30:00",
            "20250818T093000",
            "2025-08-18 09:30:00",
            "2025-08-18T24:00:00",
            "2025-08-18T09:60:00",
            "0001-01-01T00:00:00",
            "1899-12-31T23:59:59",
            "2025-02-30T09:30:00",
            "2025-08-18T09:30:00+25:00",
            "\uff12\uff10\uff12\uff15-08-18T09:30:00",
            "2025-08-18T09:30:00" + "0" * 50,
            "T09:30:00",
            "",
        ]
    ),
    TEXT.filter(lambda s: re.match(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T", s, re.ASCII) is None),
)


def bad_id(max_len: int) -> st.SearchStrategy[Any]:
    """A sakId/behandlingId/saksbehandler/beslutter value that breaks a rule: not a string,
    empty, too long, with surrounding spaces or a control character."""
    return st.one_of(
        NOT_STR,
        st.just(""),
        st.text(ID_CHARS, min_size=max_len + 1, max_size=max_len + 40),
        BIG_TEXT,
        st.tuples(st.text(ID_CHARS, min_size=1, max_size=max_len - 1), st.sampled_from([" ", "\u00a0", "\u3000"])).map(
            lambda t: t[0] + t[1]
        ),
        st.tuples(st.text(ID_CHARS, max_size=max_len - 2), CONTROL, st.text(ID_CHARS, max_size=1)).map("".join),
    )


BAD_IDENT = st.one_of(
    NOT_STR,
    st.text(max_size=20).filter(lambda s: re.fullmatch(r"[0-9]{11}", s, re.ASCII) is None),
    st.sampled_from(["1234567891", "123456789101", "1234567891a", "\u0661" * 11, "\uff11" * 11, " 2345678910"]),
)
BAD_AMOUNT = st.one_of(
    NOT_INT,
    st.integers(max_value=-1),
    st.integers(min_value=10**13, max_value=2**70),  # beyond OS's 13 digits (and orjson's 64 bits)
)


@dataclass(frozen=True)
class Hostile:
    """A hostile request: its bytes (None: a tombstone) and what breaks it (for reports)."""

    value: bytes | None
    why: str


def _dumps(obj: Any, ensure_ascii: bool) -> bytes:
    """JSON as a sender might write it (the stdlib: ints of any size, NaN if asked)."""
    return json.dumps(obj, ensure_ascii=ensure_ascii, allow_nan=True).encode("utf-8", errors="surrogatepass")


@st.composite
def hostile_request(draw: st.DrawFn, sak: str, days: list[dict[str, Any]]) -> Hostile:
    """A request on sak `sak` (when its sakId survives) that must be answered FEILET 400 at
    intake: one rule broken, on top of noise that breaks none (unknown fields, unicode, size)."""
    msg: dict[str, Any] = decision(sak, draw(ids), [dict(d) for d in days])
    if draw(st.booleans()):
        msg["dryrun"] = draw(st.sampled_from([True, False, None]))
    for name in draw(st.lists(TEXT.filter(lambda s: s not in msg and s != "dryrun"), max_size=3)):
        msg[name] = draw(st.one_of(TEXT, NOT_STR, st.none()))  # unknown fields are ignored
    kind = draw(
        st.sampled_from(
            ["field", "field", "field", "day", "day", "day", "day", "rule", "rule", "not an object", "bytes", "deep"]
        )
    )
    ascii_only = draw(st.booleans())
    if kind == "field":
        name = draw(st.sampled_from(["sakId", "behandlingId", "ident", "vedtakstidspunktet", "saksbehandler",
                                     "beslutter", "dryrun", "utbetalinger"]))  # fmt: skip
        how = draw(st.sampled_from(["missing", "null", "bad"]))
        optional = name in ("saksbehandler", "beslutter", "dryrun")
        if how in ("missing", "null") and not optional:
            if how == "missing":
                del msg[name]
            else:
                msg[name] = None
            return Hostile(_dumps(msg, ascii_only), f"{name} {how}")
        bad: dict[str, st.SearchStrategy[Any]] = {
            "sakId": bad_id(30),
            "behandlingId": bad_id(30),
            "saksbehandler": bad_id(8),
            "beslutter": bad_id(8),
            "ident": BAD_IDENT,
            "vedtakstidspunktet": st.one_of(NOT_STR, BAD_DATETIMES),
            "dryrun": st.one_of(st.integers(), st.text(max_size=5), st.lists(st.booleans(), max_size=1), st.floats()),
            "utbetalinger": st.one_of(st.booleans(), st.integers(), st.text(max_size=5), st.dictionaries(TEXT, st.integers(), max_size=2)),
        }  # fmt: skip
        value = draw(bad[name])
        if draw(st.integers(0, 5)) == 0:  # a duplicate member: the last one counts (orjson, and senders)
            body = (
                _dumps(msg, ascii_only)[:-1] + b"," + _dumps(name, ascii_only) + b":" + _dumps(value, ascii_only) + b"}"
            )
            return Hostile(body, f"{name} bad, as a repeated member")
        msg[name] = value
        return Hostile(_dumps(msg, ascii_only), f"{name} bad")
    if kind == "day":
        bad_day = draw(hostile_day(days))
        at = draw(st.integers(0, len(msg["utbetalinger"])))
        msg["utbetalinger"].insert(at, bad_day)
        if draw(st.integers(0, 4)) == 0:  # a big sak: the checks must not stop at the first few days
            msg["utbetalinger"] = _many_days(300) + msg["utbetalinger"]
        return Hostile(_dumps(msg, ascii_only), "a bad day")
    if kind == "rule":
        rule, extra = draw(rule_breaker(days))
        msg["utbetalinger"] = msg["utbetalinger"] + extra
        return Hostile(_dumps(msg, ascii_only), rule)
    if kind == "not an object":
        value = draw(
            st.one_of(
                st.none(), st.booleans(), st.integers(), st.text(max_size=10), st.lists(st.integers(), max_size=3)
            )
        )
        return Hostile(_dumps(value, ascii_only), "not an object")
    if kind == "deep":
        depth = draw(st.sampled_from([300, 1023, 1100, 20_000]))
        where = draw(st.sampled_from(["sakId", "utbetalinger", "whole"]))
        nested = "[" * depth + "1" + "]" * depth
        if where == "whole":
            return Hostile(nested.encode(), f"nested {depth} deep")
        text = _dumps(msg, True).decode()
        marker = '"' + where + '": '
        start = text.index(marker) + len(marker)
        end = start + len(_dumps(msg[where], True).decode())
        return Hostile((text[:start] + nested + text[end:]).encode(), f"{where} nested {depth} deep")
    # bytes that are not JSON (or not UTF-8), or a tombstone
    whole = _dumps(msg, ascii_only)
    return draw(
        st.one_of(
            st.just(Hostile(None, "no value")),
            st.just(Hostile(b"", "empty")),
            st.integers(1, max(1, len(whole) - 1)).map(lambda n: Hostile(whole[:n], "truncated JSON")),
            st.binary(max_size=50).filter(_not_json).map(lambda b: Hostile(b, "random bytes")),
            st.sampled_from(
                [
                    b"NaN",
                    b"[NaN]",
                    b'{"sakId": Infinity}',
                    b"\xff\xfe{}",
                    b'{"a":"\\ud800"}',
                    b"{'a':1}",
                    b'{"a":1e400}',
                    b"\x00",
                ]
            ).map(lambda b: Hostile(b, "not JSON")),
            st.just(whole.replace(b'"sakId"', b'"sakId" \x00', 1)).map(lambda b: Hostile(b, "a NUL byte")),
        )
    )


def _not_json(data: bytes) -> bool:
    try:
        json.loads(data)
    except ValueError:
        return True
    return False


def _many_days(n: int) -> list[dict[str, Any]]:
    """`n` valid paid weekdays of a far meldeperiode (no date shared with `paid_days`)."""
    start = date(2027, 1, 4)
    out = []
    d = start
    while len(out) < n:
        if d.weekday() < 5:
            out.append(_day("stor", d, 900, 1000, "Dagpenger"))
        d += timedelta(days=1)
    return out


@st.composite
def hostile_day(draw: st.DrawFn, days: list[dict[str, Any]]) -> Any:
    """One element of `utbetalinger` that breaks a rule (even when it pays 0)."""
    good = _day(label(0), "2025-06-03", draw(st.sampled_from([0, 1000])), 1000, "Dagpenger")
    what = draw(st.sampled_from(["not an object", "missing", "null", "date", "amount", "type", "meldeperiode"]))
    if what == "not an object":
        return draw(st.one_of(st.none(), st.booleans(), st.integers(), TEXT, st.lists(st.integers(), max_size=2)))
    if what in ("missing", "null"):
        name = draw(st.sampled_from(sorted(good)))
        if what == "missing":
            del good[name]
        else:
            good[name] = None
        return good
    if what == "date":
        good["dato"] = draw(st.one_of(NOT_STR, BAD_DATES))
    elif what == "amount":
        good[draw(st.sampled_from(["sats", "utbetaltBeløp"]))] = draw(BAD_AMOUNT)
    elif what == "type":
        good["utbetalingstype"] = draw(
            st.one_of(NOT_STR, TEXT.filter(lambda s: s not in ("Dagpenger", "DagpengerFerietillegg")))
        )
    else:
        good["meldeperiode"] = draw(st.one_of(NOT_STR, st.just("")))
    return good


@st.composite
def rule_breaker(draw: st.DrawFn, days: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Well-formed days that break a rule of spec §3/§9: a paid weekend Dagpenger day, a date
    paid twice for one stønadstype, a DAG utbetaling spanning more than 1100 days."""
    rule = draw(st.sampled_from(["weekend", "duplicate", "duplicate elsewhere", "too long"]))
    mp = label(draw(st.integers(0, len(MONDAYS) - 1)))
    if rule == "weekend":
        saturday = MONDAYS[draw(st.integers(0, len(MONDAYS) - 1))] + timedelta(
            days=draw(st.sampled_from([5, 6, 12, 13]))
        )
        return "WEEKEND_DAY_PAID", [_day(mp, saturday, draw(st.sampled_from([1, 700, 10**12])), 1000, "Dagpenger")]
    if rule == "too long":
        return "TOO_LONG_PERIOD", [
            _day("lang", date(2025, 1, 6), 1000, 1000, "Dagpenger"),
            _day("lang", date(2028, 1, 14), 1000, 1000, "Dagpenger"),
        ]
    paid = [d for d in days if d["utbetaltBeløp"]]
    if not paid:
        first = _day("dobbel", date(2025, 9, 1), 1000, 1000, "Dagpenger")
        return "DUPLICATE_DAY", [first, dict(first, utbetaltBeløp=400)]
    twin = dict(draw(st.sampled_from(paid)))
    if rule == "duplicate elsewhere":
        twin["meldeperiode"] = "annen " + twin["meldeperiode"]
    twin["utbetaltBeløp"] = draw(st.sampled_from([1, twin["utbetaltBeløp"]]))
    return "DUPLICATE_DAY", [twin]


# -- hostile receipts ----------------------------------------------------------------------------

# Fields helved reads (spec §7): changing any of them makes the receipt another one.
READ_LINE_FIELDS = ("delytelseId", "henvisning", "datoVedtakFom", "datoVedtakTom", "sats")
POISON_NUMBERS = (
    "Infinity", "-Infinity", "inf", "NaN", "sNaN", "-sNaN", "1E+5000", "1E+999999999", "1e3", "0x3E8", "1,000",
    "1 000", "9" * 14, "9" * 5000, "1000.001", "", "-", ".", "\u0661\u0660\u0660\u0660", "\uff11\uff10\uff10\uff10",
    "1_000", "+-1",
)  # fmt: skip
POISON_DATES = (
    "2025-02-30", "2025-13-01", "0000-01-01", "0001-01-01", "1899-12-31", "10000-01-01", "-2025-08-04",
    "2025-W32-1", "2025-216", "20250804", "2025-08-04T00:00:00", "2025-08-04+99:00", "2025-8-4",
    "\uff12\uff10\uff12\uff15-08-04", "9" * 5000, "",
)  # fmt: skip
POISON_STAMPS = (
    "2025-08-18-09.30.00", "0001-01-01-00.00.00.000000", "2025-02-30-09.30.00.000000", "1E+999999999",
    "2025-08-18T09:30:00", "x", "",
)  # fmt: skip


@dataclass(frozen=True)
class Mutated:
    value: bytes | None
    why: str


def _elements(xml: bytes, name: str) -> list[re.Match[bytes]]:
    return list(re.finditer(rb"<" + name.encode() + rb">(.*?)</" + name.encode() + rb">", xml, re.S))


def _replace(xml: bytes, m: re.Match[bytes], new: bytes) -> bytes:
    return xml[: m.start()] + new + xml[m.end() :]


def _text(value: str) -> bytes:
    return escape(value).encode("utf-8")


@st.composite
def hostile_receipt(draw: st.DrawFn, receipt: bytes) -> Mutated:
    """OS's real receipt `receipt` broken so that it is not the receipt of any Oppdrag in flight:
    unreadable, not a receipt (NOT_A_RECEIPT) or another receipt (UNMATCHED_KVITTERING). Never a
    change helved is meant to tolerate alone (those are `benign_receipt`)."""
    kinds = ["number", "number", "date", "date", "id", "stamp", "grad", "missing", "duplicate", "added line",
             "entity", "comment", "doctype", "bytes", "another sak"]  # fmt: skip
    if not _elements(receipt, "alvorlighetsgrad"):  # an Oppdrag (the emulator's input)
        kinds.remove("grad")
    kind = draw(st.sampled_from(kinds))
    xml = receipt
    why = kind
    present = [n for n in (*READ_LINE_FIELDS, "kodeFagomraade", "fagsystemId", "nokkelAvstemming", "avstemming-115",
                           "oppdrag-110", "alvorlighetsgrad", "mmel", "oppdrags-linje-150") if _elements(xml, n)]  # fmt: skip
    if kind == "number":
        m = draw(st.sampled_from(_elements(xml, "sats")))
        old = m.group(1).strip().decode()
        new = draw(
            st.one_of(st.sampled_from(POISON_NUMBERS), st.integers(0, 10**13 - 1).map(str).filter(lambda s: s != old))
        )
        xml = _replace(xml, m, b"<sats>" + _text(new) + b"</sats>")
        why = f"sats {new[:20]!r}"
    elif kind == "date":
        name = draw(
            st.sampled_from([n for n in ("datoVedtakFom", "datoVedtakTom", "datoStatusFom") if _elements(xml, n)])
        )
        m = draw(st.sampled_from(_elements(xml, name)))
        old = m.group(1).strip().decode()[:10]
        other = st.dates(date(1900, 1, 1), date(9999, 12, 31)).map(date.isoformat).filter(lambda s: s != old)
        new = draw(st.one_of(st.sampled_from(POISON_DATES), other))
        xml = _replace(xml, m, f"<{name}>{new}</{name}>".encode())
        why = f"{name} {new[:20]!r}"
    elif kind == "id":
        name = draw(
            st.sampled_from(
                ["delytelseId", "henvisning", "refDelytelseId"]
                if b"<refDelytelseId>" in xml
                else ["delytelseId", "henvisning"]
            )
        )
        m = draw(st.sampled_from(_elements(xml, name)))
        old = unescape(m.group(1).decode()).strip()
        new = draw(
            st.one_of(st.text(ID_CHARS, max_size=40), st.just(old + "x"), st.just("A" * 31)).filter(
                lambda s: s.strip() != old
            )
        )
        xml = _replace(xml, m, f"<{name}>".encode() + _text(new) + f"</{name}>".encode())
        why = f"{name} changed"
    elif kind == "stamp":
        (m,) = _elements(xml, "nokkelAvstemming")
        old = m.group(1).decode().strip()
        new = draw(st.one_of(st.sampled_from(POISON_STAMPS), st.just(old[:-1] + ("1" if old[-1] != "1" else "2"))))
        xml = _replace(xml, m, b"<nokkelAvstemming>" + _text(new) + b"</nokkelAvstemming>")
        why = f"nokkelAvstemming {new[:20]!r}"
    elif kind == "grad":
        (m,) = _elements(xml, "alvorlighetsgrad")
        new = draw(TEXT.filter(lambda s: s.strip() not in ("00", "04", "08", "12")))
        xml = _replace(xml, m, b"<alvorlighetsgrad>" + _text(new) + b"</alvorlighetsgrad>")
        why = f"alvorlighetsgrad {new[:10]!r}"
    elif kind == "missing":
        name = draw(st.sampled_from(present))
        m = draw(st.sampled_from(_elements(xml, name)))
        xml = _replace(xml, m, b"")
        why = f"{name} removed"
    elif kind == "duplicate":
        name = draw(st.sampled_from(present))
        m = draw(st.sampled_from(_elements(xml, name)))
        xml = xml[: m.end()] + m.group() + xml[m.end() :]
        why = f"{name} twice"
    elif kind == "added line":
        m = draw(st.sampled_from(_elements(xml, "oppdrags-linje-150")))
        (lid,) = _elements(m.group(), "delytelseId")
        extra = _replace(m.group(), lid, b"<delytelseId>" + _text(draw(ids)) + b"x</delytelseId>")
        xml = xml[: m.end()] + extra + xml[m.end() :]
        why = "a line added"
    elif kind in ("entity", "comment"):
        name = draw(
            st.sampled_from(
                [n for n in (*READ_LINE_FIELDS, "fagsystemId", "nokkelAvstemming", "alvorlighetsgrad") if n in present]
            )
        )
        m = draw(st.sampled_from(_elements(xml, name)))
        inner = m.group(1)
        at = draw(st.integers(0, len(inner)))
        insert = b"&e;" if kind == "entity" else b"<!--" + _text(draw(TEXT)).replace(b"--", b"") + b"-->"
        xml = _replace(xml, m, f"<{name}>".encode() + inner[:at] + insert + inner[at:] + f"</{name}>".encode())
        if kind == "entity":
            xml = _with_doctype(xml, b'<!ENTITY e "' + _text(draw(TEXT)).replace(b'"', b"") + b'">')
        why = f"{kind} inside {name}"
    elif kind == "doctype":
        laughs = b"".join(b'<!ENTITY l%d "%s">' % (i, (b"&l%d;" % (i - 1)) * 10 if i else b"lol") for i in range(10))
        xml = _with_doctype(xml, draw(st.sampled_from([b"", laughs, b'<!ENTITY x SYSTEM "file:///etc/passwd">'])))
        why = "a DOCTYPE"
    elif kind == "another sak":
        (m,) = _elements(xml, "fagsystemId")
        old = unescape(m.group(1).decode()).strip()  # as helved reads it: `&amp;` is `&`
        new = draw(ids.filter(lambda s: s != old))
        xml = _replace(xml, m, b"<fagsystemId>" + _text(new) + b"</fagsystemId>")
        why = "another sak"
    else:  # bytes that are not a document
        return draw(
            st.one_of(
                st.just(Mutated(None, "no value")),
                st.integers(0, len(receipt) - 1).map(lambda n: Mutated(receipt[:n], "truncated")),
                st.binary(max_size=80).map(lambda b: Mutated(b, "random bytes")),
                st.just(Mutated(receipt.replace(b"<", b"<\x00", 1), "a NUL byte")),
            )
        )
    if draw(st.integers(0, 3)) == 0:  # tolerated changes on top never make it a receipt again
        xml = draw(benign_receipt(xml)).value or xml
    return Mutated(xml, why)


def _with_doctype(xml: bytes, subset: bytes) -> bytes:
    head, sep, body = xml.partition(b"?>")
    if not sep:
        head, body = b"", xml
    root = re.match(rb"\s*<([\w:.-]+)", body)
    name = root.group(1) if root else b"oppdrag"
    doctype = b"<!DOCTYPE " + name + (b" [" + subset + b"]" if subset else b"") + b">"
    return head + sep + doctype + body


@st.composite
def benign_receipt(draw: st.DrawFn, receipt: bytes) -> Mutated:
    """The same receipt as OS might write it another time: another namespace prefix (or the
    default namespace), space padding around the fields helved reads, whole amounts with
    decimals, elements helved does not read added, comments between elements."""
    xml = receipt
    done: list[str] = []
    if draw(st.booleans()):
        try:
            xml = with_prefix(xml, draw(st.sampled_from(["ns2", "os", "oppdrag", "x", ""])))
            done.append("prefix")
        except Exception:  # a broken document (from `hostile_receipt`): leave it
            pass
    if draw(st.booleans()):
        name = draw(st.sampled_from([*READ_LINE_FIELDS, "fagsystemId", "nokkelAvstemming", "alvorlighetsgrad"]))
        for m in reversed(_elements(xml, name)):
            pad = draw(st.sampled_from([b" ", b"  ", b"\t", b"\n "]))
            xml = _replace(xml, m, f"<{name}>".encode() + pad + m.group(1) + pad + f"</{name}>".encode())
        done.append(f"{name} padded")
    if draw(st.booleans()):
        for m in reversed(_elements(xml, "sats")):
            if re.fullmatch(rb"\s*[0-9]+\s*", m.group(1)):
                xml = _replace(
                    xml, m, b"<sats>" + m.group(1).strip() + draw(st.sampled_from([b".00", b".0", b"."])) + b"</sats>"
                )
        done.append("decimals")
    if draw(st.booleans()):
        for m in reversed(_elements(xml, "oppdrags-linje-150")):
            xml = xml[: m.start()] + b"<!-- linje -->" + xml[m.start() :]
        xml = xml.replace(b"<fradragTillegg>", b"<nyttFelt>" + _text(draw(XML_TEXT)) + b"</nyttFelt><fradragTillegg>")
        xml = xml.replace(b"<utbetFrekvens>", b"<tekst-140><tekst>hei</tekst></tekst-140><utbetFrekvens>", 1)
        done.append("added elements")
    return Mutated(xml, ", ".join(done) or "unchanged")
