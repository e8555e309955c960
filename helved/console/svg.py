"""The sak page's pictures, as SVG text (no script, no external reference; every text escaped).

- `periods`: one row per utbetaling (uid), its periods over time as bars: confirmed (what OS
  accepted), pending (in an Oppdrag without a receipt), stopped (a confirmed chain stopped, or
  the days an update left out).
- `timeline`: one column per request, in arrival order, four lanes: request → Oppdrag →
  receipt → status, each mark coloured by its outcome and titled with its time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from html import escape
from typing import Any

from helved.console.present import mask, oslo

COLOURS = {
    "confirmed": "#2e7d32",
    "pending": "#f9a825",
    "stopped": "#9e9e9e",
    "OK": "#2e7d32",
    "FEILET": "#c62828",
    "MOTTATT": "#1565c0",
    "HOS_OPPDRAG": "#6a1b9a",
    "00": "#2e7d32",
    "04": "#9e9d24",
    "08": "#c62828",
    "12": "#c62828",
    "none": "#bdbdbd",
}


def _e(text: Any) -> str:
    return escape(str(text), quote=True)


def _date(text: Any) -> date | None:
    try:
        return date.fromisoformat(str(text)[:10])
    except ValueError:
        return None


def _periods(u: dict[str, Any] | None) -> list[tuple[date, date, int | None]]:
    out = []
    for p in (u or {}).get("perioder") or []:
        fom, tom = _date(p.get("fom")), _date(p.get("tom"))
        if fom and tom and fom <= tom:
            out.append((fom, tom, p.get("beløp")))
    return out


def bars(utbetalinger: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of the period picture: per uid, its label and bars (state, fom, tom, beløp)."""
    rows = []
    for u in utbetalinger:
        confirmed, pending = u.get("confirmed"), u.get("pending")
        info = confirmed or pending or {}
        row_bars: list[tuple[str, date, date, int | None]] = []
        current = [] if u.get("deleted") else _periods(confirmed)
        row_bars += [("confirmed", f, t, b) for f, t, b in current]
        ever = _periods({"perioder": u.get("wasConfirmed") or []})
        row_bars += [("stopped", f, t, None) for f, t in _minus(ever, current)]
        if pending:
            kept = _periods(pending)
            if pending.get("action") == "DELETE":
                row_bars += [("stopped", f, t, b) for f, t, b in kept]
            else:
                row_bars += [("pending", f, t, b) for f, t, b in kept]
        first = min((b[1] for b in row_bars), default=None)
        first_text = first.isoformat() if first else ""
        label = " ".join(
            x for x in (info.get("stønad") or info.get("klassekode"), first_text, (u.get("uid") or "")[:8]) if x
        )
        rows.append({"uid": u.get("uid"), "label": label, "bars": row_bars, "first": first_text})
    return sorted(rows, key=lambda r: (r["first"], r["label"]))


def ticks(start: date, end: date, plot_w: float, min_gap_px: float = 70) -> list[tuple[date, str]]:
    """Grid lines: Mondays for a short span, first days of months for a long one; a label on
    as many as fit `min_gap_px` apart."""
    span = max(1, (end - start).days)
    if span <= 120:
        first = start + timedelta(days=(7 - start.weekday()) % 7)
        days = [first + timedelta(days=7 * i) for i in range((end - first).days // 7 + 1)]
        fmt = "%d.%m"
    else:
        days = []
        t = date(start.year, start.month, 1)
        while t <= end:
            if t >= start:
                days.append(t)
            t = date(t.year + (t.month == 12), t.month % 12 + 1, 1)
        fmt = "%Y-%m"
    days = [d for d in days if start <= d <= end]
    every = 1
    if days:
        per = plot_w * (span / max(1, len(days))) / span
        every = max(1, int(min_gap_px // max(per, 1)) + (1 if min_gap_px % max(per, 1) else 0))
    return [(d, d.strftime(fmt) if i % every == 0 else "") for i, d in enumerate(days)]


def _minus(ever: Sequence[tuple[date, date, Any]], now: Sequence[tuple[date, date, Any]]) -> list[tuple[date, date]]:
    """The days of `ever` that `now` does not cover, as ranges."""
    covered = {fom + timedelta(days=i) for fom, tom, _ in now for i in range((tom - fom).days + 1)}
    days = sorted({fom + timedelta(days=i) for fom, tom, _ in ever for i in range((tom - fom).days + 1)} - covered)
    out: list[tuple[date, date]] = []
    for d in days:
        if out and out[-1][1] + timedelta(days=1) == d:
            out[-1] = (out[-1][0], d)
        else:
            out.append((d, d))
    return out


def periods(utbetalinger: Sequence[dict[str, Any]], width: int = 960) -> str:
    """Per utbetaling its periods over time as bars (confirmed, pending, stopped)."""
    rows = bars(utbetalinger)
    all_days = [d for r in rows for b in r["bars"] for d in (b[1], b[2])]
    label_w, row_h, top = 230, 26, 34
    height = top + row_h * max(1, len(rows)) + 30
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="periods" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" aria-label="utbetalinger and their periods">',
        "<title>Utbetalinger: periods confirmed, pending and stopped</title>",
    ]
    if not all_days:
        parts.append(f'<text x="10" y="{top}" class="muted">No utbetalinger on this sak.</text></svg>')
        return "".join(parts)
    start, end = min(all_days), max(all_days) + timedelta(days=1)
    span = max(1, (end - start).days)
    plot_w = width - label_w - 20

    def x(d: date) -> float:
        return label_w + plot_w * (d - start).days / span

    for tick, label in ticks(start, end, plot_w):
        parts.append(
            f'<line x1="{x(tick):.1f}" y1="{top - 6}" x2="{x(tick):.1f}" y2="{height - 24}" stroke="#e0e0e0"/>'
        )
        if label:
            parts.append(f'<text x="{x(tick) + 2:.1f}" y="{top - 10}" font-size="11" fill="#555">{label}</text>')
    for i, r in enumerate(rows):
        y = top + i * row_h
        parts.append(
            f'<g class="utbetaling" data-uid="{_e(r["uid"])}"><text x="4" y="{y + 17}" font-size="12">{_e(r["label"])}</text>'
        )
        for state, fom, tom, beløp in r["bars"]:
            x0, x1 = x(fom), x(tom + timedelta(days=1))
            h, dy = (row_h - 8, 4) if state != "pending" else ((row_h - 8) / 2, 4 + (row_h - 8) / 2)
            if state == "confirmed" and any(b[0] == "pending" for b in r["bars"]):
                h = (row_h - 8) / 2
            parts.append(
                f'<rect class="bar {state}" x="{x0:.1f}" y="{y + dy:.1f}" width="{max(1.5, x1 - x0):.1f}" '
                f'height="{h:.1f}" fill="{COLOURS[state]}" rx="2"><title>{state}: {fom}..{tom}'
                f"{'' if beløp is None else f', {_e(beløp)} kr/dag'}</title></rect>"
            )
        parts.append("</g>")
    ly = height - 10
    for j, state in enumerate(("confirmed", "pending", "stopped")):
        lx = label_w + j * 110
        parts.append(
            f'<rect x="{lx}" y="{ly - 9}" width="12" height="10" fill="{COLOURS[state]}"/>'
            f'<text x="{lx + 16}" y="{ly}" font-size="11">{state}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


LANES = ("request", "Oppdrag", "kvittering", "status")


def timeline(requests: Iterable[dict[str, Any]], col_w: int = 46) -> str:
    """request → Oppdrag → receipt → status per request (a column each), as SVG."""
    reqs = list(requests)
    label_w, lane_h, top = 90, 34, 26
    width = label_w + col_w * max(1, len(reqs)) + 20
    height = top + lane_h * len(LANES) + 40
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" aria-label="request, Oppdrag, receipt and status time line">',
        "<title>Time line: request → Oppdrag → kvittering → status</title>",
    ]
    for j, lane in enumerate(LANES):
        y = top + j * lane_h + lane_h / 2
        parts.append(
            f'<text x="4" y="{y + 4}" font-size="12">{lane}</text>'
            f'<line x1="{label_w - 6}" y1="{y}" x2="{width - 10}" y2="{y}" stroke="#eeeeee"/>'
        )
    for i, s in enumerate(reqs):
        cx = label_w + col_w * i + col_w / 2
        marks: list[tuple[int, str, str]] = []  # lane, colour, title
        req = s.get("request")
        key = mask(s.get("originalKey")) or "?"
        if req is not None:
            dry = " (dryrun)" if req.get("code") == "dryrun" else ""
            marks.append((0, "#1565c0", f"request {key}{dry} {oslo(req.get('timestamp'))}"))
        for o in s.get("oppdrag") or []:
            marks.append((1, "#455a64", f"Oppdrag {key} {oslo(o.get('timestamp'))} nøkkel {o.get('ref') or '?'}"))
            rs = o.get("receipts") or []
            if not rs:
                marks.append((2, COLOURS["none"], "no receipt: in flight"))
            for r in rs:
                manual = " (manual)" if any(h[0] == "manual-receipt" for h in r.get("headers") or []) else ""
                marks.append(
                    (
                        2,
                        COLOURS.get(r.get("code") or "", "#757575"),
                        f"kvittering {r.get('code')}{manual} {oslo(r.get('timestamp'))}",
                    )
                )
        statuses = s.get("statuses") or []
        final = s.get("final")
        if statuses:
            last = final or statuses[-1].get("status") or "?"
            seq = " → ".join(str(x.get("status")) for x in statuses)
            marks.append((3, COLOURS.get(last, "#757575"), f"status {seq} {oslo(statuses[-1].get('timestamp'))}"))
        ys = [top + lane * lane_h + lane_h / 2 for lane, _, _ in marks]
        if len(ys) > 1:
            parts.append(
                f'<line x1="{cx:.1f}" y1="{min(ys):.1f}" x2="{cx:.1f}" y2="{max(ys):.1f}" stroke="#90a4ae" stroke-width="2"/>'
            )
        parts.append(f'<g class="request" data-final="{_e(final or "")}">')
        for (_lane, colour, title), y in zip(marks, ys, strict=True):
            parts.append(
                f'<circle cx="{cx:.1f}" cy="{y:.1f}" r="7" fill="{colour}"><title>{_e(title)}</title></circle>'
            )
        parts.append(
            f'<text x="{cx:.1f}" y="{top + lane_h * len(LANES) + 14}" font-size="10" text-anchor="middle">{i + 1}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)
