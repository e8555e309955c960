"""The benchmark sections and the figures they produce (plain dicts, written as JSON).

Sections, each run in a fresh child process unless `isolate=False` (so each one's peak RSS is
its own, not the largest of everything before it):

- `floor`      parse + diff + XML per request, no dataflow (`helved.bench.floor`);
- `inprocess`  the real dataflow with recovery, OS answering (`helved.bench.inprocess`);
- `scaling`    `inprocess` with 1 and 2 workers (threads of one process), OS = `echo`;
- `history`    time per request after 1, 10 and 100 earlier decisions, floor and dataflow, for
               growing saker and for the fixed-window control;
- `broker`     end to end over the broker with `helved run` and the OS bridge
               (`helved.bench.broker`), once per entry of `broker_processes` (1 and 2
               processes by default), with a check that every shape wrote the same outputs.
- `drain`      the pipeline alone over the broker working off a backlog of new saker, once per
               entry of `broker_processes`: what extra processes buy when the pipeline, not
               the closed loop through OS, is the limit.
- `scale`      a year of saker in one process (`helved.bench.scale`): `scale_saker` saker of
               `scale_utbetalinger` confirmed utbetalinger loaded, resumed in a fresh process,
               running: memory, pauses, resume time, bytes per utbetaling.
- `openloop`   the whole system over the broker at fixed arrival rates (`openloop_rates`), OS
               in a process of its own (`helved.bench.openloop`), once per `openloop_os`:
               the latency curve, the highest rate sustained, and each process's CPU.

Per-core figures (requests/s, lines/s, us per request) come from CPU time: the process's CPU
time (every thread) less the CPU time the bench spent outside helved (generating traffic, the OS
emulator), measured around those calls with the thread's CPU clock. CPU time does not count time
the process spent descheduled, so other processes on the machine blur it far less than wall
time; the `*_wall` figures are wall time less the same exclusions. Scaling over workers is a
wall-time question and is reported in wall time.
"""

from __future__ import annotations

import multiprocessing
import os
import platform
import resource
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from .floor import FloorResult, run_floor
from .inprocess import InprocessRun, PhaseStats, run_inprocess
from .traffic import Profile, histories

SECTIONS = ("floor", "inprocess", "scaling", "history", "broker", "drain", "openloop", "scale")


@dataclass(frozen=True)
class BenchConfig:
    saker: int = 1000
    decisions: int = 19  # per sak: messages hold 1..19 meldeperioder, 10 on average
    seed: int = 1
    batch: int = 256
    os: str = "emulator"  # OS for `inprocess`: emulator | echo
    snapshot_s: float = 10.0
    workers: tuple[int, ...] = (1, 2)
    scaling_saker: int = 1000
    history: tuple[int, ...] = (1, 10, 100)
    history_budget: int = 6000  # warm-up requests per history point: saker = budget // H
    history_min_saker: int = 40
    history_max_saker: int = 1500
    window: int = 10  # meldeperioder per message in the fixed-window control
    sections: tuple[str, ...] = SECTIONS
    broker_saker: int = 300
    broker_decisions: int = 19
    broker_processes: tuple[int, ...] = (1, 2)  # `helved run` processes, one broker/drain run each
    drain_saker: int = 6000
    openloop_rates: tuple[int, ...] = (100, 500, 1000, 2000)  # decisions/s offered, one step each
    openloop_duration_s: float = 10.0  # per step
    openloop_os: tuple[str, ...] = ("echo", "emulator")  # one curve per OS kind
    scale_saker: int = 100_000
    scale_utbetalinger: int = 20  # confirmed per sak
    scale_running: int = 20_000  # requests in the running phase
    isolate: bool = True


SMOKE = BenchConfig(
    saker=12,
    decisions=4,
    scaling_saker=8,
    history=(1, 10, 100),
    history_budget=100,
    history_min_saker=1,
    history_max_saker=6,
    window=4,
    sections=("floor", "inprocess", "scaling", "history"),
    isolate=False,
)


def peak_rss_mib() -> float:
    """This process's peak resident set size (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> dict[str, Any]:
    from importlib.metadata import version

    import bytewax  # noqa: F401  (its version from the installed distribution)

    return {
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "bytewax": version("bytewax"),
        "platform": platform.platform(),
        "loadavg_at_start": list(os.getloadavg()),
    }


def _isolated(isolate: bool, fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    if not isolate:
        return fn(*args)
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


# ---------------------------------------------------------------------------------------------
# Figures


def _per(n: float, d: float) -> float:
    return n / d if d > 0 else 0.0


def floor_figures(r: FloorResult) -> dict[str, Any]:
    """Per-core figures from the thread's CPU time; the stage split from wall time, scaled."""
    n = r.requests
    cpu = r.cpu_s if r.cpu_s > 0 else r.seconds
    share = r.cpu_share
    return {
        "requests": n,
        "oppdrag": r.oppdrag,
        "lines": r.lines,
        "cpu_s": cpu,
        "wall_s": r.seconds,
        "requests_per_s": _per(n, cpu),
        "requests_per_s_wall": _per(n, r.seconds),
        "lines_per_s": _per(r.lines, cpu),
        "us_per_request": {
            "parse": _per(r.parse_s * share, n) * 1e6,
            "diff": _per(r.diff_s * share, n) * 1e6,
            "xml": _per(r.xml_s * share, n) * 1e6,
            "total": _per(cpu, n) * 1e6,
        },
        "us_per_meldeperiode": _per(cpu, r.meldeperioder) * 1e6,
        "rejected": r.rejected,
    }


def traffic_figures(r: FloorResult) -> dict[str, Any]:
    n = r.requests
    return {
        "requests": n,
        "meldeperioder_per_request": _per(r.meldeperioder, n),
        "days_per_request": _per(r.days, n),
        "bytes_per_request": _per(r.bytes_in, n),
        "lines_per_oppdrag": _per(r.lines, r.oppdrag),
        "requests_with_oppdrag": r.oppdrag,
        "requests_without_change": r.no_change,
        "utbetalinger": dict(r.actions),
        "lines": dict(r.line_kinds),
    }


def phase_figures(p: PhaseStats) -> dict[str, Any]:
    """Per-core figures from the process's CPU time less the bench's own (traffic, OS);
    `*_wall` ones from wall time less the same."""
    return {
        "requests": p.requests,
        "oppdrag": p.oppdrag,
        "lines": p.lines,
        "receipts": p.receipts,
        "outputs": p.outputs,
        "wall_s": p.wall_s,
        "cpu_s": p.cpu_s,
        "excluded_s": {"generate": p.generate_s, "os": p.os_s, "loop": p.loop_s},
        "excluded_cpu_s": {"generate": p.generate_cpu_s, "os": p.os_cpu_s, "loop": p.loop_cpu_s},
        "pipeline_s": p.pipeline_s,
        "pipeline_cpu_s": p.pipeline_cpu_s,
        "requests_per_s": _per(p.requests, p.pipeline_cpu_s),
        "requests_per_s_wall": _per(p.requests, p.pipeline_s),
        "lines_per_s": _per(p.lines, p.pipeline_cpu_s),
        "us_per_request": _per(p.pipeline_cpu_s, p.requests) * 1e6,
        "us_per_request_wall": _per(p.pipeline_s, p.requests) * 1e6,
        "us_per_meldeperiode": _per(p.pipeline_cpu_s, p.meldeperioder) * 1e6,
        "meldeperioder_per_request": _per(p.meldeperioder, p.requests),
        "feilet": p.feilet,
        "waited": p.waited,
        "rejected_by_os": p.rejected_by_os,
    }


def run_figures(run: InprocessRun) -> dict[str, Any]:
    s = run.state
    return {
        "workers": run.workers,
        "os": run.os,
        "snapshot_s": run.snapshot_s,
        "phases": {p.name: phase_figures(p) for p in run.phases},
        "state": {
            "saker": s.saker,
            "active_uids": s.active_uids,
            "uids": s.uids,
            "bytes": s.bytes,
            "bytes_per_active_uid": s.per_active_uid,
            "bytes_per_sak": _per(s.bytes, s.saker),
            "snapshot_rows_kept": s.snapshot_rows,
            "pickle_us_per_sak": s.pickle_us_per_sak,
            "pickle_us_per_active_uid": _per(s.pickle_s, s.active_uids) * 1e6,
        },
    }


# ---------------------------------------------------------------------------------------------
# Sections (module-level functions: a spawned child process must be able to import them)


def section_floor(cfg: BenchConfig) -> dict[str, Any]:
    hs = histories(cfg.saker, cfg.seed)
    decisions = (h.next_decision() for _ in range(cfg.decisions) for h in hs)  # generated lazily
    r = run_floor(decisions)
    return {"traffic": traffic_figures(r), "floor": {**floor_figures(r), "peak_rss_mib": peak_rss_mib()}}


def section_inprocess(cfg: BenchConfig) -> dict[str, Any]:
    run = run_inprocess(
        histories(cfg.saker, cfg.seed),
        [("main", cfg.decisions)],
        workers=1,
        batch=cfg.batch,
        snapshot_s=cfg.snapshot_s,
        os=cfg.os,
    )
    out = run_figures(run)
    out["peak_rss_mib"] = peak_rss_mib()
    return out


def section_scaling_one(cfg: BenchConfig, workers: int) -> dict[str, Any]:
    run = run_inprocess(
        histories(cfg.scaling_saker, cfg.seed),
        [("main", cfg.decisions)],
        workers=workers,
        batch=cfg.batch,
        snapshot_s=cfg.snapshot_s,
        os="echo",
    )
    main = phase_figures(run.phases[0])
    return {
        "workers": workers,
        "os": "echo",
        "requests": main["requests"],
        "wall_s": main["wall_s"],
        "requests_per_s_wall": main["requests_per_s_wall"],
        "cpu_us_per_request": main["us_per_request"],
        "cpu_per_wall": main["cpu_s"] / main["wall_s"] if main["wall_s"] > 0 else 0.0,
        "peak_rss_mib": peak_rss_mib(),
    }


def _history_saker(cfg: BenchConfig, earlier: int) -> int:
    return max(cfg.history_min_saker, min(cfg.history_max_saker, cfg.history_budget // max(earlier, 1)))


def section_history_one(cfg: BenchConfig, earlier: int, window: int | None) -> dict[str, Any]:
    """Time the decisions that follow `earlier` decisions, for a set of saker.

    Fewer saker are affordable the longer the history (the warm-up costs saker x history x
    message size), so after a long history more than one decision per sak is timed: the next
    `max(1, earlier // 10)` (decisions `earlier+1 ..`, at most 10 % more history).
    """
    profile = Profile(window=window)
    n = _history_saker(cfg, earlier)
    timed_decisions = max(1, earlier // 10)
    # Floor: warm up untimed, then time the next decisions of every sak.
    hs = histories(n, cfg.seed, profile=profile)
    saker: dict[int, Any] = {}
    run_floor((h.next_decision() for _ in range(earlier) for h in hs), saker=saker)
    timed = run_floor((h.next_decision() for _ in range(timed_decisions) for h in hs), saker=saker)
    floor = floor_figures(timed)
    # The dataflow: the same decisions, the warm-up as a phase of its own.
    run = run_inprocess(
        histories(n, cfg.seed, profile=profile),
        [("warm-up", earlier), ("timed", timed_decisions)],
        batch=cfg.batch,
        snapshot_s=cfg.snapshot_s,
        os="echo",
    )
    flow = phase_figures(run.phases[-1])
    return {
        "earlier_decisions": earlier,
        "window": window,
        "saker": n,
        "timed_requests": timed.requests,
        "meldeperioder_per_request": _per(timed.meldeperioder, timed.requests),
        "floor_us_per_request": floor["us_per_request"]["total"],
        "floor_us_per_meldeperiode": floor["us_per_meldeperiode"],
        "floor_us_parse_per_request": floor["us_per_request"]["parse"],
        "floor_us_diff_xml_per_request": floor["us_per_request"]["diff"] + floor["us_per_request"]["xml"],
        "inprocess_us_per_request": flow["us_per_request"],
        "inprocess_us_per_meldeperiode": flow["us_per_meldeperiode"],
        "state_bytes_per_active_uid": run.state.per_active_uid,
        "snapshot_pickle_us_per_sak": run.state.pickle_us_per_sak,
    }


# ---------------------------------------------------------------------------------------------


@dataclass
class Bench:
    cfg: BenchConfig
    progress: Callable[[str], None] = lambda msg: None
    results: dict[str, Any] = field(default_factory=dict)

    def run(self) -> dict[str, Any]:
        cfg = self.cfg
        started = time.perf_counter()
        res: dict[str, Any] = {"machine": machine(), "config": asdict(cfg)}
        iso = cfg.isolate
        if "floor" in cfg.sections:
            self.progress(f"floor: {cfg.saker} saker x {cfg.decisions} decisions")
            res.update(_isolated(iso, section_floor, cfg))
        if "inprocess" in cfg.sections:
            self.progress(f"inprocess: the same traffic through the dataflow, recovery on, OS={cfg.os}")
            res["inprocess"] = _isolated(iso, section_inprocess, cfg)
        if "scaling" in cfg.sections:
            res["scaling"] = []
            for w in cfg.workers:
                self.progress(f"scaling: {w} worker(s), {cfg.scaling_saker} saker, OS=echo")
                res["scaling"].append(_isolated(iso, section_scaling_one, cfg, w))
        if "history" in cfg.sections:
            res["history"] = []
            for window in (None, cfg.window):
                for h in cfg.history:
                    kind = "growing saker" if window is None else f"fixed window of {window}"
                    self.progress(f"history: {h} earlier decisions, {kind}")
                    res["history"].append(_isolated(iso, section_history_one, cfg, h, window))
        if "broker" in cfg.sections:
            from .broker import broker_available, section_broker

            reason = broker_available()
            if reason is None:
                runs = []
                for n in cfg.broker_processes:
                    self.progress(
                        f"broker: {cfg.broker_saker} saker x {cfg.broker_decisions} decisions end to end, "
                        f"{n} pipeline process(es)"
                    )
                    runs.append(_isolated(iso, section_broker, cfg, n))
                res["broker"] = runs[0]
                if len(runs) > 1:
                    res["broker_processes"] = runs
                    res["broker_same_outputs"] = len({r["outputs_digest"] for r in runs}) == 1
            else:
                res["broker"] = {"available": False, "reason": reason}
        if "drain" in cfg.sections:
            from .broker import broker_available, section_drain

            reason = broker_available()
            if reason is None:
                drains = []
                for n in cfg.broker_processes:
                    self.progress(f"drain: a backlog of {cfg.drain_saker} new saker, {n} pipeline process(es)")
                    drains.append(_isolated(iso, section_drain, cfg, n))
                res["drain"] = drains
                res["drain_same_outputs"] = len({r["outputs_digest"] for r in drains}) == 1
            else:
                res["drain"] = [{"available": False, "reason": reason}]
        if "openloop" in cfg.sections:
            from .broker import broker_available
            from .openloop import section_openloop_cfg

            reason = broker_available()
            res["openloop"] = []
            for kind in cfg.openloop_os:
                if reason is not None:
                    res["openloop"].append({"available": False, "reason": reason, "os": kind})
                    continue
                rates = ", ".join(str(r) for r in cfg.openloop_rates)
                self.progress(f"openloop: {rates} decisions/s for {cfg.openloop_duration_s:g} s each, OS {kind}")
                res["openloop"].append(_isolated(iso, section_openloop_cfg, cfg, kind))
        if "scale" in cfg.sections:
            from .scale import section_scale

            self.progress(
                f"scale: {cfg.scale_saker:,} saker x {cfg.scale_utbetalinger} utbetalinger, resumed and running"
            )
            # Its steps run in processes of their own already.
            res["scale"] = section_scale(
                cfg.scale_saker,
                cfg.scale_utbetalinger,
                cfg.scale_running,
                cfg.seed,
                cfg.snapshot_s,
                progress=self.progress,
            )
        res["targets"] = targets(res)
        res["seconds"] = time.perf_counter() - started
        res["machine"]["loadavg_at_end"] = list(os.getloadavg())
        self.results = res
        return res


# ---------------------------------------------------------------------------------------------
# Targets (per core, about 10 meldeperioder per request)

TARGET_RPS = 5000.0
TARGET_RATIO = 0.60
TARGET_FLAT = 0.20
TARGET_STATE = 2048.0
TARGET_CHANGE = 3.0  # a request to a sak of ~100 meldeperioder, one changed, vs one of ~10
TARGET_BROKER_RPS = 2000.0  # open loop, sustained, this machine with the broker beside
TARGET_P99_MS = 100.0  # decision -> final status at TARGET_P99_RATE
TARGET_P99_RATE = 500.0


def _history_pair(res: dict[str, Any], key: str, small: int = 10, large: int = 100) -> tuple[float, float] | None:
    """`key` of the growing saker after `small` and after `large` earlier decisions."""
    rows = {r["earlier_decisions"]: r for r in res.get("history", []) if r["window"] is None}
    if small not in rows or large not in rows or not rows[small][key]:
        return None
    return rows[small][key], rows[large][key]


def _history_ratio(res: dict[str, Any], window: int | None, key: str) -> float | None:
    rows = [r for r in res.get("history", []) if r["window"] == window]
    if len(rows) < 2:
        return None
    first = min(rows, key=lambda r: r["earlier_decisions"])
    last = max(rows, key=lambda r: r["earlier_decisions"])
    return last[key] / first[key] if first[key] > 0 else None


def targets(res: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    main = res.get("inprocess", {}).get("phases", {}).get("main")
    floor = res.get("floor")
    if main is not None:
        rps = main["requests_per_s"]
        out.append(
            {
                "target": "inprocess >= 5,000 requests/s per core",
                "measured": rps,
                "unit": "requests/s",
                "met": rps >= TARGET_RPS,
                "how_far": f"{rps / TARGET_RPS:.0%} of target",
            }
        )
    if main is not None and floor is not None:
        ratio = main["requests_per_s"] / floor["requests_per_s"] if floor["requests_per_s"] else 0.0
        res.setdefault("inprocess", {})["ratio_to_floor"] = ratio
        out.append(
            {
                "target": "inprocess >= 60 % of floor (same run)",
                "measured": ratio,
                "unit": "ratio",
                "met": ratio >= TARGET_RATIO,
                "how_far": f"{ratio:.0%} vs 60 %",
            }
        )
    for window, key, label in (
        (None, "inprocess_us_per_request", "per request, growing saker (the message grows with history)"),
        (None, "inprocess_us_per_meldeperiode", "per meldeperiode in the message, growing saker"),
        ("window", "inprocess_us_per_request", "per request, fixed window (same message size)"),
    ):
        w = res["config"]["window"] if window == "window" else None
        ratio = _history_ratio(res, w, key)
        if ratio is None:
            continue
        hs = res["config"]["history"]
        out.append(
            {
                "target": f"cost grows < 20 % from {min(hs)} to {max(hs)} earlier decisions: {label}",
                "measured": ratio,
                "unit": "x (last/first)",
                "met": ratio <= 1.0 + TARGET_FLAT,
                "how_far": f"{ratio - 1.0:+.0%}",
            }
        )
    pair = _history_pair(res, "inprocess_us_per_request")
    if pair is not None:
        ratio = pair[1] / pair[0]
        out.append(
            {
                "target": "cost follows the change: ~100 meldeperioder, one changed, <= 3x ~10 (dataflow, per request)",
                "measured": ratio,
                "unit": "x (100/10 earlier decisions)",
                "met": ratio <= TARGET_CHANGE,
                "how_far": f"{pair[0]:,.0f} -> {pair[1]:,.0f} us",
            }
        )
    pair = _history_pair(res, "snapshot_pickle_us_per_sak")
    if pair is not None:
        ratio = pair[1] / pair[0]
        out.append(
            {
                "target": "snapshot cost per sak independent of its size (within 20 %, 100 vs 10 earlier decisions)",
                "measured": ratio,
                "unit": "x (100/10 earlier decisions)",
                "met": ratio <= 1.0 + TARGET_FLAT,
                "how_far": f"{pair[0]:,.0f} -> {pair[1]:,.0f} us per sak",
            }
        )
    for curve in res.get("openloop", []):
        if curve.get("available") is False or not curve.get("steps"):
            continue
        best = curve["max_sustained_per_s"]
        top = max(curve["steps"], key=lambda st: st["offered_per_s"])
        out.append(
            {
                "target": f"over the broker, open loop (OS {curve['os']}): >= 2,000 requests/s sustained",
                "measured": best,
                "unit": "requests/s",
                "met": best >= TARGET_BROKER_RPS,
                "how_far": f"{best / TARGET_BROKER_RPS:.0%} of target; at {top['offered_per_s']:,.0f}/s offered "
                f"{top['completed_per_s']:,.0f}/s completed",
            }
        )
        at = [st for st in curve["steps"] if st["offered_per_s"] == TARGET_P99_RATE]
        if at:
            p99 = at[0]["latency_ms"]["p99"]
            out.append(
                {
                    "target": f"p99 decision -> final status < 100 ms at 500 requests/s (OS {curve['os']})",
                    "measured": p99,
                    "unit": "ms",
                    "met": p99 < TARGET_P99_MS and at[0]["final"] == at[0]["decisions"],
                    "how_far": f"{p99 / TARGET_P99_MS:.1f}x the limit; p50 {at[0]['latency_ms']['p50']:,.0f} ms",
                }
            )
    if res.get("scale"):
        out.extend(res["scale"]["targets"])
    state = res.get("inprocess", {}).get("state")
    if state is not None and state["active_uids"]:
        b = state["bytes_per_active_uid"]
        out.append(
            {
                "target": "state <= 2 KiB per active utbetaling",
                "measured": b,
                "unit": "bytes",
                "met": b <= TARGET_STATE,
                "how_far": f"{b / TARGET_STATE:.0%} of the limit",
            }
        )
    return out
