"""`helved bench`: throughput, latency and how cost grows, against the per-message floor."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path


def _ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError("expected positive integers")
    return values


def _sections(text: str) -> tuple[str, ...]:
    from helved.bench.run import SECTIONS

    names = tuple(x.strip() for x in text.split(",") if x.strip())
    bad = [n for n in names if n not in SECTIONS]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"sections are {', '.join(SECTIONS)}; got {text!r}")
    return names


def _os_kinds(text: str) -> tuple[str, ...]:
    kinds = tuple(x.strip() for x in text.split(",") if x.strip())
    if not kinds or any(k not in ("echo", "emulator") for k in kinds):
        raise argparse.ArgumentTypeError(f"OS kinds are echo and emulator; got {text!r}")
    return kinds


def run(args: argparse.Namespace) -> int:
    import orjson

    from helved.bench.report import render
    from helved.bench.run import SMOKE, Bench, BenchConfig

    cfg = SMOKE if args.smoke else BenchConfig()
    changes = {
        name: getattr(args, name)
        for name in (
            "saker",
            "decisions",
            "seed",
            "batch",
            "os",
            "workers",
            "history",
            "sections",
            "broker_processes",
            "broker_saker",
            "drain_saker",
            "openloop_rates",
            "openloop_os",
            "openloop_duration_s",
            "scale_saker",
            "scale_running",
        )
        if getattr(args, name) is not None
    }
    if args.no_isolate:
        changes["isolate"] = False
    cfg = dataclasses.replace(cfg, **changes)

    def progress(msg: str) -> None:
        print(f"helved bench: {msg}", file=sys.stderr, flush=True)

    res = Bench(cfg, progress).run()
    print(render(res))
    if args.json:
        Path(args.json).write_bytes(orjson.dumps(res, option=orjson.OPT_INDENT_2))
        progress(f"results written to {args.json}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench",
        help="measure throughput, state size and cost growth of the pipeline against the per-message floor",
        description=(
            "Seeded dagpenger traffic (whole sak every time) through: floor (parse + diff + XML, no dataflow), "
            "inprocess (the real dataflow, recovery on, the OS emulator answering), scaling (1 and 2 workers), "
            "history (time per request after 1, 10, 100 earlier decisions), broker (end to end) and drain "
            "(the pipeline alone working off a backlog), the last two with 1 and 2 pipeline processes, and "
            "openloop (the whole system at fixed arrival rates, OS in its own process: the latency curve) and "
            "scale (a year of saker in one process: memory, pauses, resume)."
        ),
    )
    p.add_argument("--smoke", action="store_true", help="tiny sizes, one process: completes in seconds")
    p.add_argument("--json", metavar="FILE", help="write every figure as JSON to FILE")
    p.add_argument(
        "--sections",
        type=_sections,
        help="comma-separated: floor,inprocess,scaling,history,broker,drain,openloop,scale",
    )
    p.add_argument("--saker", type=int, help="saker in floor and inprocess (default 1000)")
    p.add_argument(
        "--decisions", type=int, help="decisions per sak (default 19: 10 meldeperioder per request on average)"
    )
    p.add_argument("--seed", type=int, help="traffic seed (default 1)")
    p.add_argument("--batch", type=int, help="requests of distinct saker per source batch (default 256)")
    p.add_argument(
        "--os", choices=("emulator", "echo"), help="OS for inprocess (default emulator; its time is taken out)"
    )
    p.add_argument("--workers", type=_ints, help="worker counts for scaling (default 1,2)")
    p.add_argument("--history", type=_ints, help="earlier decisions for the history study (default 1,10,100)")
    p.add_argument(
        "--broker-processes",
        type=_ints,
        help="helved run processes for the broker section, one run each, outputs compared (default 1,2)",
    )
    p.add_argument("--broker-saker", type=int, help="saker in the broker section (default 300)")
    p.add_argument("--drain-saker", type=int, help="new saker in the drain section's backlog (default 6000)")
    p.add_argument(
        "--openloop-rates", type=_ints, help="decisions/s offered in the openloop section (default 100,500,1000,2000)"
    )
    p.add_argument(
        "--openloop-os",
        type=_os_kinds,
        help="OS kinds for the openloop section, one curve each: echo,emulator (default both)",
    )
    p.add_argument(
        "--openloop-duration", dest="openloop_duration_s", type=float, help="seconds per openloop rate (default 10)"
    )
    p.add_argument("--scale-saker", type=int, help="saker in the scale section (default 100000)")
    p.add_argument("--scale-running", type=int, help="requests in the scale section's running phase (default 20000)")
    p.add_argument(
        "--no-isolate", action="store_true", help="run every section in this process (peak RSS is then shared)"
    )
    p.set_defaults(func=run)
