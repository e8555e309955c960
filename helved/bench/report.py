"""The bench results as a text table (the JSON is the full record)."""

from __future__ import annotations

from typing import Any


def _row(cells: list[str], widths: list[int], right: set[int]) -> str:
    return "  ".join(
        c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
    ).rstrip()


def _table(header: list[str], rows: list[list[str]], right: set[int] | None = None) -> list[str]:
    """Columns in `right` are right-aligned (numbers), the others left-aligned."""
    r = right if right is not None else set(range(1, len(header)))
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return [_row(header, widths, r), _row(["-" * w for w in widths], widths, r), *(_row(x, widths, r) for x in rows)]


def _n(x: float, digits: int = 0) -> str:
    return f"{x:,.{digits}f}"


def render(res: dict[str, Any]) -> str:
    m = res["machine"]
    lines = [
        (
            f"helved bench: {m['nproc']} cores, Python {m['python']}, bytewax {m['bytewax']}, "
            f"load {m['loadavg_at_start'][0]:.2f} at start, {m.get('loadavg_at_end', [0])[0]:.2f} at end, "
            f"{res.get('seconds', 0):.0f} s"
        ),
    ]
    t = res.get("traffic")
    if t:
        lines.append(
            f"traffic: {_n(t['requests'])} requests; per request {t['meldeperioder_per_request']:.1f} meldeperioder, "
            f"{t['days_per_request']:.0f} days, {t['bytes_per_request'] / 1024:.1f} KiB; "
            f"{t['requests_with_oppdrag']} with an Oppdrag ({t['lines_per_oppdrag']:.2f} lines each), "
            f"{t['requests_without_change']} without change"
        )
        lines.append(
            "  utbetalinger: "
            + ", ".join(f"{k} {v}" for k, v in sorted(t["utbetalinger"].items()))
            + "; lines: "
            + ", ".join(f"{k} {v}" for k, v in sorted(t["lines"].items()))
        )
    rows: list[list[str]] = []
    f = res.get("floor")
    if f:
        u = f["us_per_request"]
        rows.append(
            [
                "floor (parse+diff+xml)",
                _n(f["requests_per_s"]),
                _n(f["lines_per_s"]),
                _n(u["total"], 1),
                _n(f["peak_rss_mib"], 0),
                f"parse {u['parse']:.0f} + diff {u['diff']:.0f} + xml {u['xml']:.0f} us; wall {_n(f['requests_per_s_wall'])}/s",
            ]
        )
    ip = res.get("inprocess")
    if ip:
        main = ip["phases"]["main"]
        st = ip["state"]
        ratio = ip.get("ratio_to_floor")
        rows.append(
            [
                f"inprocess ({ip['workers']} worker, OS {ip['os']})",
                _n(main["requests_per_s"]),
                _n(main["lines_per_s"]),
                _n(main["us_per_request"], 1),
                _n(ip["peak_rss_mib"], 0),
                (f"{ratio:.0%} of floor; " if ratio is not None else "")
                + f"CPU {main['cpu_s']:.1f} s less OS {main['excluded_cpu_s']['os']:.1f} s"
                f" + traffic {main['excluded_cpu_s']['generate']:.1f} s"
                f" + bench loop {main['excluded_cpu_s'].get('loop', 0.0):.1f} s; wall {_n(main['requests_per_s_wall'])}/s; "
                f"state {st['bytes_per_active_uid']:.0f} B/active uid; snapshot {st['pickle_us_per_sak']:.0f} us/sak",
            ]
        )
    for s in res.get("scaling", []):
        rows.append(
            [
                f"inprocess ({s['workers']} worker{'s' if s['workers'] > 1 else ''}, OS echo)",
                _n(s["requests_per_s_wall"]) + " wall",
                "",
                _n(s["cpu_us_per_request"], 1),
                _n(s["peak_rss_mib"], 0),
                f"wall {s['wall_s']:.1f} s, {s['cpu_per_wall']:.2f} cores busy; workers are threads of one process",
            ]
        )
    b = res.get("broker")
    if b:
        if b.get("available") is False:
            rows.append(["broker", "-", "-", "-", "-", f"not run: {b['reason']}"])
        else:
            same = res.get("broker_same_outputs")
            for r in res.get("broker_processes") or [b]:
                n = r.get("processes", 1)
                shape = f"{n} process{'es' if n > 1 else ''} x {r.get('workers_per_process', 1)} worker"
                note = f"decision -> final status: median {r['latency_ms']['median']:.0f} ms, p90 {r['latency_ms']['p90']:.0f} ms"
                busy = r.get("cores_busy")
                if busy:
                    pipe = "+".join(f"{x:.2f}" for x in busy["pipeline"] if x is not None)
                    note += f"; cores busy: pipeline {pipe}, broker {busy['broker'] or 0:.2f}, bench+bridge+OS {busy['bench_bridge_emulator']:.2f} of {busy['machine']}"
                if same is not None:
                    note += "; outputs identical across shapes" if same else "; OUTPUTS DIFFER across shapes"
                rows.append(
                    [
                        f"broker (end to end, {shape}) wall",
                        _n(r["requests_per_s"]),
                        _n(r["lines_per_s"]),
                        _n(r["us_per_request"], 1),
                        _n(r["peak_rss_mib"], 0),
                        note,
                    ]
                )
    drains = res.get("drain") or []
    for d in drains:
        if d.get("available") is False:
            rows.append(["drain", "-", "-", "-", "-", f"not run: {d['reason']}"])
            continue
        n = d["processes"]
        busy = d["cores_busy"]
        pipe = "+".join(f"{x:.2f}" for x in busy["pipeline"] if x is not None)
        note = f"{d['requests']:,} new saker; cores busy: pipeline {pipe}, broker {busy['broker'] or 0:.2f} of {busy['machine']}"
        if res.get("drain_same_outputs") is not None and len(drains) > 1:
            note += (
                "; outputs identical across shapes" if res["drain_same_outputs"] else "; OUTPUTS DIFFER across shapes"
            )
        rows.append(
            [
                f"drain (backlog, {n} process{'es' if n > 1 else ''} x {d['workers_per_process']} worker) wall",
                _n(d["requests_per_s"]),
                _n(d["lines"] / d["wall_s"] if d["wall_s"] > 0 else 0.0),
                _n(d["wall_s"] / d["requests"] * 1e6 if d["requests"] else 0.0, 1),
                "+".join(_n(x, 0) for x in d.get("pipeline_peak_rss_mib", []) if x is not None) or "-",
                note,
            ]
        )
    if rows:
        lines.append("")
        lines.append(
            "per core: requests/s, lines/s and us/request from CPU time (the bench's own traffic and OS taken out)"
        )
        lines += _table(["mode", "requests/s", "lines/s", "us/request", "peak RSS MiB", "notes"], rows, {1, 2, 3, 4})
    hist = res.get("history", [])
    if hist:
        lines.append("")
        lines.append(
            "CPU us per request (req) and per meldeperiode in the message (mp) after N earlier decisions (dataflow: OS echo)"
        )
        hrows = [
            [
                "growing" if r["window"] is None else f"window {r['window']}",
                str(r["earlier_decisions"]),
                str(r["timed_requests"]),
                f"{r['meldeperioder_per_request']:.1f}",
                _n(r["floor_us_per_request"], 0),
                _n(r["floor_us_per_meldeperiode"], 1),
                _n(r["inprocess_us_per_request"], 0),
                _n(r["inprocess_us_per_meldeperiode"], 1),
                _n(r["state_bytes_per_active_uid"], 0),
            ]
            for r in hist
        ]
        lines += _table(
            ["saker", "earlier", "timed", "mp/msg", "floor/req", "floor/mp", "flow/req", "flow/mp", "B/uid"], hrows
        )
    for curve in res.get("openloop", []):
        lines.append("")
        if curve.get("available") is False:
            lines.append(f"openloop (OS {curve.get('os')}): not run: {curve['reason']}")
            continue
        lines.append(
            f"openloop over the broker, OS {curve['os']} in its own process: decision -> final status (ms) at "
            f"fixed arrival rates, {curve['duration_s']:g} s each; cores busy per process (of {curve['machine_cores']})"
        )
        orows = [
            [
                _n(st["offered_per_s"]),
                _n(st["completed_per_s"]),
                "yes" if st["sustained"] else "no",
                _n(st["latency_ms"]["p50"], 0),
                _n(st["latency_ms"]["p90"], 0),
                _n(st["latency_ms"]["p99"], 0),
                _n(st["latency_ms"]["max"], 0),
                " ".join(
                    f"{name} {st['cores_busy'][name] or 0:.2f}"
                    for name in ("pipeline", "broker", "os", "load_generator")
                ),
            ]
            for st in curve["steps"]
        ]
        lines += _table(
            ["offered/s", "completed/s", "sustained", "p50", "p90", "p99", "max", "cores busy"],
            orows,
            {0, 1, 3, 4, 5, 6},
        )
    sc = res.get("scale")
    if sc:
        load, resume, run, mem = sc["load"], sc["resume"], sc["running"], sc["memory"]
        lines.append("")
        lines.append(
            f"scale: {sc['config']['saker']:,} saker x {sc['config']['utbetalinger_per_sak']} utbetalinger; "
            f"load {load['wall_s']:.0f} s, resume {resume['seconds']:.1f} s, RSS after resume "
            f"{mem['rss_after_resume_bytes'] / 2**20:,.0f} MiB (peak {mem['peak_rss_bytes'] / 2**20:,.0f}), "
            f"{mem['rss_bytes_per_utbetaling']:.0f} B/utbetaling in memory, "
            f"{sc['snapshots']['bytes_per_utbetaling']:.0f} B in snapshots; running {run['requests']:,} requests, "
            f"GC max {run['gc_ms_all']['max']:.1f} ms"
        )
    tg = res.get("targets", [])
    if tg:
        lines.append("")
        trows = [
            ["met" if x["met"] else "NOT MET", x["target"], f"{x['measured']:,.2f} {x['unit']}", x["how_far"]]
            for x in tg
        ]
        lines += _table(["", "target", "measured", "how far"], trows, {2})
    return "\n".join(lines)
