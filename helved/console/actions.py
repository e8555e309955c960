"""Operator actions: records on Kafka, never a write to helved's state (issue 16).

Each action is done by an authenticated operator with a non-empty reason, checked against the
archive, and refused with the reason when it makes no sense (`Refused`). It produces an audit
entry on `helved.audit.v1` (who, when, what, why, the target record's topic/partition/offset)
and, for a manual receipt, the receipt on `helved.kvittering.v1` as OS's side would put it there.
Reading a detail view with idents shown is audited the same way (`audit_read`).

The actions:
(1) `resend`: the OS bridge hands an Oppdrag in flight to OS again. The console writes only the
    audit entry (action `resend`, the Oppdrag's position, `details.sha256` of its value); the
    bridge reads the audit topic and acts on each such entry once (`helved.os.bridge`).
(2) `manual_receipt`: a receipt (00, or 04 with a text) for an Oppdrag in flight whose receipt was
    lost, on the kvittering topic as OS's side would put it there.
(3) `mark_handled`: a FEILET is dealt with (the dashboard stops showing it).
(4) `resubmit`: a corrected request from the DLQ, produced to the sender's input topic (the DLQ
    record's `src-topic` header) under the request's original key, with headers `resubmission`
    (the audit entry's id), `resubmitted-from` (the DLQ record's topic:partition:offset) and
    `resubmitted-by`; the pipeline reads it as any request.

Audit entry (JSON, the audit record's value; key = the sak key's JSON text, or the target's key):
    {"id", "action", "who", "role", "when", "reason",
     "target": {"topic", "partition", "offset", "key", "originalKey", "recordId"},
     "sak": {"sakId", "fagsystem"} | null, "details": {...}}
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson

from helved.config import Topics
from helved.console import queries
from helved.console.archive import Archive
from helved.errors import HelvedError
from helved.records import InRecord, OutRecord

MAX_REASON = 2000
RECEIPT_CODES = ("00", "04")
# A corrected request is at most what a DLQ record keeps of a value (helved.flow.encode).
MAX_REQUEST_BYTES = 512 * 1024
# A second resend of one Oppdrag is refused until this long after the last one.
RESEND_AGAIN_MS = 15 * 60_000
MAX_CHANGED_PATHS = 50


class Refused(HelvedError):
    """An action that makes no sense, or is not allowed: `reason` says why."""

    def __init__(self, reason: str, status: int = 409) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: str  # "viewer" | "operator"

    @property
    def operator(self) -> bool:
        return self.role == "operator"


class Publisher(Protocol):
    """Where the console's records go: all delivered, or an exception."""

    def publish(self, records: Sequence[OutRecord]) -> None: ...


class KafkaPublisher:
    """helved's reliable producer: every record acknowledged before `publish` returns."""

    def __init__(self, settings: Any, timeout_s: float = 15.0) -> None:
        from helved.kafka import ReliableProducer

        self._producer = ReliableProducer(settings)
        self._timeout_s = timeout_s

    def publish(self, records: Sequence[OutRecord]) -> None:
        for rec in records:
            self._producer.send(rec)
        self._producer.flush_or_raise(self._timeout_s)

    def close(self) -> None:
        self._producer.flush_or_raise(self._timeout_s)


class ArchivePublisher:
    """No broker (tests, `helved console --sample`): records go straight into the archive, at
    the next offsets of partition 0 of their topic, as if read back from the topic."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive
        self.published: list[OutRecord] = []

    def publish(self, records: Sequence[OutRecord]) -> None:
        stored = self.archive.positions()
        batch = []
        for rec in records:
            off = stored.get((rec.topic, 0), 0)
            stored[(rec.topic, 0)] = off + 1
            batch.append(InRecord(rec.topic, rec.key, rec.value, rec.headers, 0, off, rec.timestamp_ms))
        self.archive.ingest(batch)
        self.published.extend(records)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class Actions:
    """The operator actions over one archive, publishing through `publisher`."""

    archive: Archive
    publisher: Publisher
    clock: Callable[[], int] = _now_ms

    @property
    def topics(self) -> Topics:
        return self.archive.topics

    # -- the audit entry --------------------------------------------------------------------------

    def _entry(
        self, user: User, action: str, reason: str, target: dict[str, Any], details: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], OutRecord]:
        now = self.clock()
        sak = {"sakId": target["sakId"], "fagsystem": target["fagsystem"]} if target.get("sakId") else None
        entry = {
            # A new action's identity, made once here: the audit record carries it, and replays
            # read it from there (the bridge resends once per id), never make it again.
            "id": str(uuid.uuid4()),
            "action": action,
            "who": user.name,
            "role": user.role,
            "when": datetime.fromtimestamp(now / 1000, UTC).isoformat(timespec="milliseconds"),
            "reason": reason,
            "target": {
                "topic": target["topic"],
                "partition": target["partition"],
                "offset": target["offset"],
                "key": target["key"],
                "originalKey": target["originalKey"],
                "recordId": target["id"],
            },
            "sak": sak,
            "details": details or {},
        }
        key = orjson.dumps(sak).decode() if sak else target["key"]
        headers = (("action", action.encode()), ("who", user.name.encode()))
        return entry, OutRecord(self.topics.audit, key, orjson.dumps(entry), headers, now)

    @staticmethod
    def _reason(reason: str | None) -> str:
        text = (reason or "").strip()
        if not text:
            raise Refused("a reason is required", 400)
        if len(text) > MAX_REASON:
            raise Refused(f"the reason is longer than {MAX_REASON} characters", 400)
        return text

    @staticmethod
    def _operator(user: User) -> None:
        if not user.operator:
            raise Refused("only an operator may act; you are signed in as a viewer", 403)

    def _target(self, rid: int) -> dict[str, Any]:
        row = queries.record(self.archive, rid)
        if row is None:
            raise Refused(f"no record {rid} in the archive", 404)
        return row

    # -- (3) mark a FEILET as handled -------------------------------------------------------------

    def mark_handled(self, user: User, rid: int, reason: str | None) -> dict[str, Any]:
        """Record that an operator has dealt with a FEILET status. Refused for anything that is
        not a FEILET status, and for one already marked."""
        self._operator(user)
        why = self._reason(reason)
        target = self._target(rid)
        if target["kind"] != "status" or target["status"] != "FEILET":
            raise Refused(f"record {rid} is not a FEILET status (it is a {target['kind']} record)")
        with self.archive.engine.connect() as conn:
            done = queries.audit_entries(conn, "mark-handled", {queries.ref_of(target)})
        if done:
            raise Refused(f"already marked handled by {done[0].get('who')} at {done[0].get('when')}")
        entry, rec = self._entry(user, "mark-handled", why, target)
        self.publisher.publish([rec])
        return entry

    # -- (2) a manual receipt ---------------------------------------------------------------------

    def manual_receipt(
        self, user: User, rid: int, code: str, reason: str | None, text: str | None = None
    ) -> dict[str, Any]:
        """Give an Oppdrag in flight the receipt OS never delivered: 00, or 04 with a text.

        Refused unless the record is an Oppdrag with no receipt archived and no manual receipt
        given before. The receipt is OS's answer shape (`build_receipt`: the Oppdrag echoed with
        `mmel` first, padded as OS pads it) with the headers the OS bridge gives a receipt, plus
        `manual-receipt` = the audit entry's id. The audit entry is published first."""
        self._operator(user)
        why = self._reason(reason)
        if code not in RECEIPT_CODES:
            raise Refused(f"a manual receipt is 00 or 04, not {code!r}", 400)
        melding = (text or "").strip()
        if code == "04" and not melding:
            raise Refused("a 04 receipt needs a text (beskrMelding)", 400)
        target = self._target(rid)
        if target["kind"] != "oppdrag" or not target.get("body"):
            raise Refused(f"record {rid} is not an Oppdrag (it is a {target['kind']} record)")
        if target["replay"]:
            raise Refused(f"record {rid} is a replayed copy of an earlier Oppdrag: act on the first one")
        with self.archive.engine.connect() as conn:
            receipts = queries.receipts_of(conn, target)
            given = queries.audit_entries(conn, "manual-receipt", {queries.ref_of(target)})
        if receipts:
            grades = ", ".join(sorted({r["code"] or "?" for r in receipts}))
            raise Refused(f"the Oppdrag is not in flight: it has a receipt ({grades})")
        if given:
            raise Refused(f"a manual receipt was already given by {given[0].get('who')} at {given[0].get('when')}")

        xml = build_receipt(target["body"].encode("utf-8"), code, melding)
        entry, audit = self._entry(
            user, "manual-receipt", why, target, {"alvorlighetsgrad": code, "beskrMelding": melding}
        )
        receipt = receipt_record(target, xml, self.topics, self.clock(), entry["id"])
        self.publisher.publish([audit, receipt])
        return entry

    # -- (1) resend an Oppdrag in flight ----------------------------------------------------------

    def resend(self, user: User, rid: int, reason: str | None) -> dict[str, Any]:
        """Ask the OS bridge to hand an Oppdrag in flight to OS again (OS never got it, or lost
        it). The audit entry is the request: the bridge acts on it once.

        Refused unless the record is an Oppdrag (not a replayed copy) with no receipt archived,
        and within `RESEND_AGAIN_MS` of an earlier resend of it."""
        self._operator(user)
        why = self._reason(reason)
        target = self._target(rid)
        if target["kind"] != "oppdrag" or not target.get("body"):
            raise Refused(f"record {rid} is not an Oppdrag (it is a {target['kind']} record)")
        if target["replay"]:
            raise Refused(f"record {rid} is a replayed copy of an earlier Oppdrag: act on the first one")
        now = self.clock()
        with self.archive.engine.connect() as conn:
            receipts = queries.receipts_of(conn, target)
            earlier = queries.audit_entries(conn, "resend", {queries.ref_of(target)})
            value = queries.value_bytes(conn, rid)
        if receipts:
            grades = ", ".join(sorted({r["code"] or "?" for r in receipts}))
            raise Refused(f"the Oppdrag is not in flight: it has a receipt ({grades})")
        if earlier and now - int(earlier[-1]["recordTime"] or 0) < RESEND_AGAIN_MS:
            last = earlier[-1]
            raise Refused(
                f"a resend was asked by {last.get('who')} at {last.get('when')}: the bridge hands the Oppdrag to "
                f"OS once per resend; wait for OS's receipt (or add a manual receipt if OS booked it), and "
                f"ask again at the earliest {RESEND_AGAIN_MS // 60_000} minutes after the last"
            )
        digest = hashlib.sha256(value or b"").hexdigest()
        entry, audit = self._entry(user, "resend", why, target, {"sha256": digest})
        self.publisher.publish([audit])
        return entry

    # -- (4) resubmit a corrected request from the DLQ --------------------------------------------

    def resubmit(self, user: User, rid: int, value: str | bytes | None, reason: str | None) -> dict[str, Any]:
        """Produce a corrected request from DLQ record `rid` to its sender's input topic.

        Refused unless the DLQ record holds a request (its `src-topic` is a sender's input
        topic: not a receipt, not a record of another topic), has a key, is not a replayed copy
        and was not resubmitted before; and unless `value` is a JSON object the sender's own
        parser accepts (what it rejects would only come back to the DLQ). The audit entry names
        the DLQ record and, in `details`, the input topic, the DLQ's error code, the JSON paths
        the correction changed and the sha256 of the value produced (not the value: it holds
        the person's ident)."""
        from helved import fagsystemer
        from helved.errors import RequestRejected
        from helved.oslo import record_time

        self._operator(user)
        why = self._reason(reason)
        target = self._target(rid)
        if target["kind"] != "dlq":
            raise Refused(f"record {rid} is not a DLQ record (it is a {target['kind']} record)")
        if target["replay"]:
            raise Refused(f"record {rid} is a replayed copy of an earlier DLQ record: act on the first one")
        headers = _first_headers(target["headers"])
        src = headers.get("src-topic")
        inputs = self.topics.inputs()
        error = target["code"] or (headers.get("error") or "").split(":", 1)[0] or "no error header"
        if src not in inputs:
            if src == self.topics.kvittering:
                what = "a receipt"
            elif src:
                what = f"a record of {src}"
            else:
                what = "a record without provenance headers"
            raise Refused(
                f"record {rid} is not a request: it is {what} the pipeline put on the DLQ ({error}); only a "
                "request can be resubmitted, to its sender's input topic"
            )
        key = target["key"]
        if not key:
            raise Refused(
                f"record {rid} is a request without a key ({error}): a resubmission goes under the request's "
                "original key; the sender must send it again with one"
            )
        with self.archive.engine.connect() as conn:
            given = queries.audit_entries(conn, "resubmit", {queries.ref_of(target)})
            original = queries.value_bytes(conn, rid)
        if given:
            raise Refused(f"already resubmitted by {given[0].get('who')} at {given[0].get('when')}")
        raw = value.encode("utf-8") if isinstance(value, str) else (value or b"")
        if not raw.strip():
            raise Refused("the corrected request is empty", 400)
        if len(raw) > MAX_REQUEST_BYTES:
            raise Refused(f"the corrected request is larger than {MAX_REQUEST_BYTES} bytes", 400)
        try:
            corrected = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise Refused(f"the corrected request is not JSON: {exc}", 400) from None
        if not isinstance(corrected, dict):
            raise Refused("the corrected request is not a JSON object", 400)
        now = self.clock()
        fagsystem = inputs[src]
        try:
            fagsystemer.contract(fagsystem).parse(corrected, original_key=key, avstemming=record_time(now))
        except RequestRejected as err:
            raise Refused(f"{fagsystem.value} would reject the corrected request again: {err.msg}", 400) from None
        except Exception as exc:  # the parser failed: it would fail in the pipeline too
            raise Refused(
                f"{fagsystem.value}'s parser fails on the corrected request: {type(exc).__name__}", 400
            ) from None
        try:
            before = orjson.loads(original) if original else None
            changed = changed_paths(before, corrected)
        except orjson.JSONDecodeError:
            changed = ["$"]  # the original was not JSON
        body = orjson.dumps(corrected)
        details = {
            "topic": src,
            "fagsystem": fagsystem.value,
            "error": error,
            "changed": changed,
            "sha256": hashlib.sha256(body).hexdigest(),
        }
        entry, audit = self._entry(user, "resubmit", why, target, details)
        request = OutRecord(
            src,
            key,
            body,
            (
                ("resubmission", entry["id"].encode()),
                ("resubmitted-from", queries.ref_of(target).encode()),
                ("resubmitted-by", user.name.encode()),
            ),
            now,
        )
        self.publisher.publish([audit, request])
        return entry

    # -- audited reads ----------------------------------------------------------------------------

    def audit_read(self, user: User, rid: int, reason: str | None) -> dict[str, Any]:
        """Record that `user` looked at the idents of record `rid` (any role may, with a reason)."""
        why = self._reason(reason)
        target = self._target(rid)
        entry, rec = self._entry(user, "read-ident", why, target)
        self.publisher.publish([rec])
        return entry


def _first_headers(headers: Sequence[Sequence[str]] | None) -> dict[str, str]:
    """A record's headers by name, the first of each name (helved's own come first)."""
    out: dict[str, str] = {}
    for name, value in headers or []:
        out.setdefault(name, value)
    return out


def changed_paths(before: Any, after: Any, path: str = "$") -> list[str]:
    """The JSON paths (`$.utbetalinger[3].sats`) where `after` differs from `before`: the
    leaves that changed, were added or removed; at most `MAX_CHANGED_PATHS`."""
    out: list[str] = []

    def walk(a: Any, b: Any, p: str) -> None:
        if len(out) >= MAX_CHANGED_PATHS:
            return
        if isinstance(a, dict) and isinstance(b, dict):
            for k in [*a, *(k for k in b if k not in a)]:
                walk(a.get(k, _MISSING), b.get(k, _MISSING), f"{p}.{k}")
        elif isinstance(a, list) and isinstance(b, list):
            for i in range(max(len(a), len(b))):
                walk(a[i] if i < len(a) else _MISSING, b[i] if i < len(b) else _MISSING, f"{p}[{i}]")
        elif a is _MISSING or b is _MISSING or type(a) is not type(b) or a != b:
            out.append(p)

    walk(before, after, path)
    return out


_MISSING = object()


# OS pads its fixed-width mmel fields with spaces (receivers trim); alvorlighetsgrad is not
# padded (the schema's enumeration). The same widths as the OS emulator's writer.
MMEL_WIDTHS = {"systemId": 10, "kodeMelding": 10, "beskrMelding": 70, "programId": 10, "sectionNavn": 30}
ACCEPTED_TEXT = "Oppdraget er mottatt og behandlet"


def build_receipt(oppdrag_xml: bytes, code: str, text: str) -> bytes:
    """OS's receipt for an Oppdrag: the document echoed with `mmel` as the root's first child
    (systemId 231-OPUR, kodeMelding, alvorlighetsgrad, beskrMelding, programId, sectionNavn),
    the root's namespace prefix kept, as OS answers (spec `domain.md` §7)."""
    from lxml import etree

    from helved.oppdrag.xml import parse_xml

    root = parse_xml(oppdrag_xml)
    for old in [c for c in root if isinstance(c.tag, str) and etree.QName(c).localname == "mmel"]:
        root.remove(old)
    fields = [
        ("systemId", "231-OPUR"),
        ("kodeMelding", "B110000I" if code == "00" else "B110004I"),
        ("alvorlighetsgrad", code),
        ("beskrMelding", text or ACCEPTED_TEXT),
        ("programId", "K231BB10"),
        ("sectionNavn", "CA10-OPPDATERING"),
    ]
    if root.nsmap.get(None) is not None:  # a default-namespace root: mmel stays un-namespaced
        mmel = etree.fromstring(b'<mmel xmlns=""/>')
    else:
        mmel = etree.Element("mmel")
    for name, value in fields:
        etree.SubElement(mmel, name).text = value.ljust(MMEL_WIDTHS.get(name, 0))
    root.insert(0, mmel)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def receipt_record(oppdrag: dict[str, Any], xml: bytes, topics: Topics, now_ms: int, audit_id: str) -> OutRecord:
    """The receipt record: keyed like the Oppdrag, with the headers the OS bridge copies from it
    (original-key, fagsystem, sak, uids) and the Oppdrag's provenance, plus `manual-receipt`."""
    copied = ("fagsystem", "sak", "uids")
    headers: list[tuple[str, bytes]] = []
    if oppdrag["key"] is not None:
        headers.append(("original-key", oppdrag["key"].encode()))
    for name, value in oppdrag["headers"]:
        if name in copied and name not in {h for h, _ in headers}:
            headers.append((name, value.encode()))
    headers += [
        ("src-topic", oppdrag["topic"].encode()),
        ("src-partition", str(oppdrag["partition"]).encode()),
        ("src-offset", str(oppdrag["offset"]).encode()),
        ("manual-receipt", audit_id.encode()),
    ]
    return OutRecord(topics.kvittering, oppdrag["key"], xml, tuple(headers), now_ms)
