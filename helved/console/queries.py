"""The console's read side over the archive: the dashboard, message search, a sak's whole story,
an Oppdrag with its receipt, the audit log. Plain dicts (JSON-ready); idents are masked by the
callers that list (`present.mask`), never here, so the detail view can show them when asked.

Replays (a record the pipeline produced again after a crash, `archive` step 4) are left out of
every view unless asked for.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import orjson
import sqlalchemy as sa

from helved.console.archive import IX, Archive, records, target_ref

R = records
HOUR_MS = 3_600_000
FINAL = ("OK", "FEILET")


def json_or_none(text: str | None) -> Any:
    if not text:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None


def row_dict(row: Any, *, body: bool = True) -> dict[str, Any]:
    """A record row as a dict: its position, key, headers, derived columns (and body)."""
    m = row._mapping
    out = {
        "id": m["id"],
        "topic": m["topic"],
        "partition": m["kafka_partition"],
        "offset": m["kafka_offset"],
        "key": m["key"],
        "timestamp": m["timestamp_ms"],
        "headers": m["headers"],
        "kind": m["kind"],
        "sakId": m["sak_id"],
        "fagsystem": m["fagsystem"],
        "status": m["status"],
        "originalKey": m["original_key"],
        "uid": m["uid"],
        "code": m["code"],
        "ref": m["ref"],
        "replay": m["replay"],
        "tombstone": m["tombstone"],
    }
    if body:
        out["body"] = m["body"]
    return out


def ref_of(row: dict[str, Any]) -> str:
    """A record's position as an audit entry names it."""
    return target_ref(row["topic"], row["partition"], row["offset"]) or ""


# ---------------------------------------------------------------------------------------------
# Audit entries


def audit_entries(conn: sa.Connection, action: str | None = None, refs: set[str] | None = None) -> list[dict[str, Any]]:
    """Audit records (parsed values with their record's id and time), oldest first."""
    q = sa.select(R.c.id, R.c.body, R.c.timestamp_ms, R.c.ref).where(R.c.kind == "audit").where(R.c.replay.is_(False))
    if action is not None:
        q = q.where(R.c.code == action)
    if refs is not None:
        if not refs:
            return []
        q = q.where(R.c.ref.in_(refs))
    out = []
    for rid, body, ts, ref in conn.execute(q.order_by(R.c.id)):
        obj = json_or_none(body)
        if isinstance(obj, dict):
            out.append({**obj, "recordId": rid, "recordTime": ts, "ref": ref})
    return out


def handled_refs(conn: sa.Connection) -> dict[str, dict[str, Any]]:
    """Records marked handled: their ref -> the audit entry."""
    return {e["ref"]: e for e in audit_entries(conn, "mark-handled") if e.get("ref")}


# ---------------------------------------------------------------------------------------------
# Receipts and Oppdrag in flight


def _receipt_clause(o: Any) -> Any:
    """A kvittering of Oppdrag row `o`: the same original key and the same nokkelAvstemming."""
    k = R.alias("k")
    return (
        sa.select(k.c.id)
        .where(k.c.kind == "kvittering")
        .where(k.c.original_key == o.c.original_key)
        .where(k.c.ref == o.c.ref)
        .exists()
    )


def receipts_of(conn: sa.Connection, oppdrag: dict[str, Any]) -> list[dict[str, Any]]:
    q = (
        sa.select(R)
        .where(R.c.kind == "kvittering")
        .where(R.c.original_key == oppdrag["originalKey"])
        .where(R.c.ref == oppdrag["ref"])
        .order_by(R.c.id)
    )
    return [row_dict(r) for r in conn.execute(q)]


def in_flight(conn: sa.Connection, older_than_ms: int | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """Oppdrag (not replays) that have no receipt, oldest first; with `older_than_ms`, only those
    whose record is older than that."""
    o = R
    q = (
        sa.select(o)
        .where(o.c.kind == "oppdrag")
        .where(o.c.replay.is_(False))
        .where(o.c.tombstone.is_(False))
        .where(~_receipt_clause(o))
    )
    if older_than_ms is not None:
        q = q.where(o.c.timestamp_ms < older_than_ms)
    return [row_dict(r, body=False) for r in conn.execute(q.order_by(o.c.timestamp_ms, o.c.id).limit(limit))]


# ---------------------------------------------------------------------------------------------
# The dashboard


def _latest_status_ids(conn: sa.Connection, keys: set[str]) -> dict[str, int]:
    """The id of the newest status record of each request key."""
    if not keys:
        return {}
    q = (
        sa.select(R.c.original_key, sa.func.max(R.c.id))
        .where(R.c.kind == "status")
        .where(R.c.replay.is_(False))
        .where(R.c.original_key.in_(keys))
        .group_by(R.c.original_key)
    )
    return {k: int(i) for k, i in conn.execute(q)}


def recent_requests(conn: sa.Connection, limit: int = 12) -> list[dict[str, Any]]:
    """The newest requests (not dryruns' answers), each with its latest status: where a
    newcomer starts following one to its sak."""
    rows = [
        row_dict(r, body=False)
        for r in conn.execute(
            sa.select(R).where(R.c.kind == "request").where(R.c.replay.is_(False)).order_by(R.c.id.desc()).limit(limit)
        )
    ]
    keys = {r["originalKey"] for r in rows if r["originalKey"]}
    latest = _latest_status_ids(conn, keys)
    status: dict[int, str | None] = {}
    if latest:
        status = {
            int(i): st for i, st in conn.execute(sa.select(R.c.id, R.c.status).where(R.c.id.in_(set(latest.values()))))
        }
    for r in rows:
        sid = latest.get(r["originalKey"] or "")
        r["latest"] = status.get(sid) if sid is not None else None
    return rows


def dashboard(archive: Archive, now_ms: int, *, flight_ms: int = HOUR_MS) -> dict[str, Any]:
    """What an operator looks at first.

    - `feilet`: FEILET statuses nobody has marked handled yet and no later status of the same
      request key superseded (a resubmission from the DLQ), newest first;
    - `stuck`: Oppdrag without a receipt for over `flight_ms` (an hour) counted inside OS's
      opening hours (06-21 Europe/Oslo, Norwegian working days; `checks.open_ms`), oldest first;
    - `mismatches`: pending/confirmed utbetalinger that disagree with the receipts
      (`checks.pending_mismatches`); `doubles`: suspected double payments
      (`checks.double_payments`, the rule there);
    - `requests`: requests per fagsystem by their latest status; `recent`: the latest requests;
    - `avstemming`: the last grensesnittavstemming per fagområde (from the avstemt topic);
    - `dlq`: records on the DLQ; `archive`: records archived, the newest record's time."""
    from helved.console import checks

    with archive.engine.connect() as conn:
        handled = handled_refs(conn)
        q = (
            sa.select(R)
            .where(R.c.kind == "status")
            .where(R.c.status == "FEILET")
            .where(R.c.replay.is_(False))
            .order_by(R.c.id.desc())
        )
        feilet = []
        for row in conn.execute(q):
            d = row_dict(row)
            if ref_of(d) in handled:
                continue
            err = (json_or_none(d.pop("body")) or {}).get("error") or {}
            d["error"] = err if isinstance(err, dict) else {}
            feilet.append(d)
        later = _latest_status_ids(conn, {f["originalKey"] for f in feilet if f["originalKey"]})
        feilet = [f for f in feilet if later.get(f["originalKey"], f["id"]) <= f["id"]]
        stuck = checks.stuck(in_flight(conn, now_ms - flight_ms, limit=1000), now_ms, flight_ms)
        mismatches = checks.pending_mismatches(conn, now_ms)
        doubles = checks.double_payments(conn)
        recent = recent_requests(conn)

        last = (
            sa.select(sa.func.max(R.c.id).label("id"))
            .where(R.c.kind == "status")
            .where(R.c.replay.is_(False))
            .group_by(R.c.original_key, R.c.fagsystem)
            .subquery()
        )
        counts = conn.execute(
            sa.select(R.c.fagsystem, R.c.status, sa.func.count())
            .join(last, R.c.id == last.c.id)
            .group_by(R.c.fagsystem, R.c.status)
        ).all()
        requests: dict[str, dict[str, int]] = defaultdict(dict)
        for fag, status, n in counts:
            requests[fag or "?"][status or "?"] = int(n)

        avstemt = conn.execute(
            sa.select(R.c.key, R.c.body, R.c.timestamp_ms, R.c.id).where(R.c.kind == "avstemt").order_by(R.c.id)
        ).all()
        per_fagomrade: dict[str, dict[str, Any]] = {}
        for _key, body, ts, rid in avstemt:
            run = json_or_none(body)
            if not isinstance(run, dict):
                continue
            for fo, info in (run.get("fagområder") or {}).items():
                entry = {
                    "fagområde": fo,
                    "fom": run.get("fom"),
                    "tom": run.get("tom"),
                    "today": run.get("today"),
                    "scheduled": run.get("scheduled"),
                    "id": (info or {}).get("id"),
                    "antall": (info or {}).get("antall"),
                    "beløp": (info or {}).get("beløp"),
                    "timestamp": ts,
                    "recordId": rid,
                }
                prev = per_fagomrade.get(fo)
                if prev is None or (str(entry["tom"]), rid) >= (str(prev["tom"]), prev["recordId"]):
                    per_fagomrade[fo] = entry

        dlq = conn.execute(sa.select(sa.func.count()).select_from(R).where(R.c.kind == "dlq")).scalar_one()
        total, newest = conn.execute(sa.select(sa.func.count(), sa.func.max(R.c.timestamp_ms)).select_from(R)).one()
    return {
        "feilet": feilet,
        "stuck": stuck,
        "mismatches": mismatches,
        "doubles": doubles,
        "recent": recent,
        "requests": {k: dict(sorted(v.items())) for k, v in sorted(requests.items())},
        "avstemming": [per_fagomrade[k] for k in sorted(per_fagomrade)],
        "dlq": int(dlq),
        "archive": {"records": int(total), "newest": newest},
        "now": now_ms,
        "flightMs": flight_ms,
    }


# ---------------------------------------------------------------------------------------------
# Search


@dataclass(frozen=True)
class Search:
    """A message search. Every field narrows; `text` is a substring of the value or headers."""

    topics: tuple[str, ...] = ()
    key: str | None = None
    sak: str | None = None
    fagsystem: str | None = None
    status: str | None = None
    kind: str | None = None
    from_ms: int | None = None
    to_ms: int | None = None
    text: str | None = None
    replays: bool = False
    page: int = 1
    size: int = 50
    extra: dict[str, Any] = field(default_factory=dict)


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def search(archive: Archive, s: Search) -> dict[str, Any]:
    """One page of records matching `s`, newest first, and how many match in all."""
    where: list[sa.ColumnElement[bool]] = []
    if s.topics:
        where.append(R.c.topic.in_(s.topics))
    if s.key:
        where.append(sa.or_(sa.and_(R.c.key_ix == s.key[:IX], R.c.key == s.key), R.c.original_key == s.key[:IX]))
    if s.sak:
        where.append(R.c.sak_id == s.sak[:IX])
    if s.fagsystem:
        where.append(R.c.fagsystem == s.fagsystem)
    if s.status:
        where.append(R.c.status == s.status)
    if s.kind:
        where.append(R.c.kind == s.kind)
    if s.from_ms is not None:
        where.append(R.c.timestamp_ms >= s.from_ms)
    if s.to_ms is not None:
        where.append(R.c.timestamp_ms < s.to_ms)
    if s.text:
        pattern = _like(s.text)
        where.append(
            sa.or_(R.c.body.like(pattern, escape="\\"), sa.cast(R.c.headers, sa.Text).like(pattern, escape="\\"))
        )
    if not s.replays:
        where.append(R.c.replay.is_(False))
    size = max(1, min(s.size, 500))
    page = max(1, s.page)
    with archive.engine.connect() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(R).where(*where)).scalar_one()
        rows = conn.execute(
            sa.select(R).where(*where).order_by(R.c.id.desc()).limit(size).offset((page - 1) * size)
        ).all()
    return {"total": int(total), "page": page, "size": size, "items": [row_dict(r) for r in rows]}


def record(archive: Archive, rid: int) -> dict[str, Any] | None:
    with archive.engine.connect() as conn:
        row = conn.execute(sa.select(R).where(R.c.id == rid)).one_or_none()
        return None if row is None else row_dict(row)


def value_bytes(conn: sa.Connection, rid: int) -> bytes | None:
    """Record `rid`'s value exactly as it was on the topic (None: a tombstone, or no record)."""
    from helved.console.archive import value_of

    row = conn.execute(sa.select(R.c.body, R.c.raw, R.c.tombstone).where(R.c.id == rid)).one_or_none()
    return None if row is None else value_of(dict(row._mapping))


def record_at(archive: Archive, topic: str, partition: int, offset: int) -> dict[str, Any] | None:
    with archive.engine.connect() as conn:
        row = conn.execute(
            sa.select(R).where(R.c.topic == topic, R.c.kafka_partition == partition, R.c.kafka_offset == offset)
        ).one_or_none()
        return None if row is None else row_dict(row)


# ---------------------------------------------------------------------------------------------
# One Oppdrag, one sak


def oppdrag(archive: Archive, rid: int) -> dict[str, Any] | None:
    """An Oppdrag record with its receipt(s), the statuses of its request and the audit entries
    that name it; `inFlight` when it has no receipt."""
    with archive.engine.connect() as conn:
        row = conn.execute(sa.select(R).where(R.c.id == rid, R.c.kind == "oppdrag")).one_or_none()
        if row is None:
            return None
        o = row_dict(row)
        receipts = receipts_of(conn, o)
        statuses = [
            row_dict(r)
            for r in conn.execute(
                sa.select(R).where(R.c.kind == "status", R.c.original_key == o["originalKey"]).order_by(R.c.id)
            )
        ]
        audit = audit_entries(conn, refs={ref_of(o)})
    return {"oppdrag": o, "receipts": receipts, "statuses": statuses, "audit": audit, "inFlight": not receipts}


def sak(archive: Archive, sak_id: str, fagsystem: str) -> dict[str, Any]:
    """Everything archived of one sak, oldest first, and its story:

    - `requests`: per original key, in order: the request, its statuses, its Oppdrag and the
      receipt(s) of each (the time line);
    - `utbetalinger`: per uid, the confirmed utbetaling (last on the utbetalinger topic), the
      pending one (last on the pending topic, unless a tombstone followed) and every period
      ever confirmed (`wasConfirmed`: what is no longer confirmed was stopped);
    - `active`: the sak's active uids (last on the saker topic), or None;
    - `audit`: the audit entries about the sak."""
    with archive.engine.connect() as conn:
        rows = [
            row_dict(r)
            for r in conn.execute(
                sa.select(R)
                .where(R.c.sak_id == sak_id[:IX])
                .where(sa.or_(R.c.fagsystem == fagsystem, R.c.fagsystem.is_(None)))
                .where(R.c.replay.is_(False))
                .order_by(R.c.id)
            )
        ]
    requests: dict[str, dict[str, Any]] = {}
    utbetalinger: dict[str, dict[str, Any]] = {}
    active: list[str] | None = None
    audit = []
    receipts: dict[tuple[str | None, str | None], list[dict[str, Any]]] = defaultdict(list)

    def story(okey: str) -> dict[str, Any]:
        return requests.setdefault(
            okey,
            {
                "originalKey": okey, "request": None, "resubmissions": [], "statuses": [], "oppdrag": [],
                "dryrun": [], "dlq": [],
            },
        )  # fmt: skip

    for r in rows:
        kind, okey = r["kind"], r["originalKey"]
        if kind == "request" and okey:
            s = story(okey)
            if s["request"] is None:
                s["request"] = r
            else:  # the same key again: a resubmission from the DLQ (or the sender reused its key)
                s["resubmissions"].append(r)
        elif kind == "status" and okey:
            story(okey)["statuses"].append(r)
        elif kind == "oppdrag" and okey:
            story(okey)["oppdrag"].append(r)
        elif kind == "kvittering":
            receipts[(okey, r["ref"])].append(r)
        elif kind in ("dryrun", "simulering") and okey:
            story(okey)["dryrun"].append(r)
        elif kind == "dlq" and okey:
            story(okey)["dlq"].append(r)
        elif kind in ("utbetaling", "pending") and r["uid"]:
            u = utbetalinger.setdefault(
                r["uid"], {"uid": r["uid"], "confirmed": None, "pending": None, "wasConfirmed": []}
            )
            slot = "confirmed" if kind == "utbetaling" else "pending"
            u[slot] = json_or_none(r["body"])
            if kind == "utbetaling" and isinstance(u[slot], dict):
                u["wasConfirmed"].extend(u[slot].get("perioder") or [])  # every period OS ever accepted
            if kind == "utbetaling" and u[slot] is None:  # a tombstone: gone
                u["deleted"] = True
        elif kind == "saker":
            active = json_or_none(r["body"])
        elif kind == "audit":
            audit.append({**(json_or_none(r["body"]) or {}), "recordId": r["id"], "recordTime": r["timestamp"]})
    for s in requests.values():
        for o in s["oppdrag"]:
            o["receipts"] = receipts.get((o["originalKey"], o["ref"]), [])
        # the last final status: a request resubmitted from the DLQ under its key is FEILET, then OK
        s["final"] = next((x["status"] for x in reversed(s["statuses"]) if x["status"] in FINAL), None)
        first = s["request"] or (s["statuses"] or s["oppdrag"] or [{}])[0]
        s["timestamp"] = first.get("timestamp")
        s["firstId"] = first.get("id")
    ordered = sorted(requests.values(), key=lambda s: (s["firstId"] is None, s["firstId"] or 0))
    return {
        "sakId": sak_id,
        "fagsystem": fagsystem,
        "records": rows,
        "requests": ordered,
        "utbetalinger": [utbetalinger[k] for k in sorted(utbetalinger)],
        "active": active if isinstance(active, list) else None,
        "audit": audit,
    }


def audit_log(archive: Archive, page: int = 1, size: int = 100) -> dict[str, Any]:
    """The audit log, newest first."""
    size = max(1, min(size, 500))
    page = max(1, page)
    with archive.engine.connect() as conn:
        where = [R.c.kind == "audit", R.c.replay.is_(False)]
        total = conn.execute(sa.select(sa.func.count()).select_from(R).where(*where)).scalar_one()
        rows = conn.execute(
            sa.select(R.c.id, R.c.body, R.c.timestamp_ms, R.c.ref)
            .where(*where)
            .order_by(R.c.id.desc())
            .limit(size)
            .offset((page - 1) * size)
        ).all()
    items = []
    for rid, body, ts, ref in rows:
        obj = json_or_none(body)
        items.append(
            {**(obj if isinstance(obj, dict) else {"raw": body}), "recordId": rid, "recordTime": ts, "ref": ref}
        )
    return {"total": int(total), "page": page, "size": size, "items": items}


def saks_of_key(archive: Archive, key: str) -> list[tuple[str, str]]:
    """The saker a request key belongs to."""
    with archive.engine.connect() as conn:
        return [
            (s, f)
            for s, f in conn.execute(
                sa.select(R.c.sak_id, R.c.fagsystem)
                .where(R.c.original_key == key[:IX], R.c.sak_id.is_not(None))
                .distinct()
            )
        ]
