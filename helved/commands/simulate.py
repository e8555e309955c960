"""`helved simulate`: the seeded fault simulation of the whole pipeline (see `helved.sim`).

Runs seeds `--first` .. `--first + --seeds - 1` (or one `--seed`), each in its own temporary
directory, and prints one line per failing seed (its rule and a replay file) and a summary.
Exit 0 when every seed held, 1 when one failed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path


def run(args: argparse.Namespace) -> int:
    import logging

    from helved.sim import SimulationFailure, World, simulate

    logging.getLogger().setLevel(logging.CRITICAL)  # crashes are the point: keep their logs quiet
    seeds = [args.seed] if args.seed is not None else list(range(args.first, args.first + args.seeds))
    world = World(saker=args.saker, decisions=args.decisions, lose_receipts=args.lose_receipts)
    keep = Path(args.keep) if args.keep else None
    failed = crashes = lost = bridge = 0
    started = time.monotonic()
    for n, seed in enumerate(seeds, 1):
        with tempfile.TemporaryDirectory(prefix=f"helved-sim-{seed}-") as tmp:
            workdir = keep / f"seed-{seed}" if keep else Path(tmp)
            try:
                out = simulate(seed, workdir, world)
            except SimulationFailure as exc:
                failed += 1
                if not keep:  # the replay file must outlive the temporary directory
                    saved = Path.cwd() / f"helved-sim-seed-{seed}.jsonl"
                    src = workdir / f"seed-{seed}.jsonl"
                    if src.exists():
                        saved.write_bytes(src.read_bytes())
                        print(f"  replay file kept as {saved}", file=sys.stderr)
                print(f"FAILED {exc}", file=sys.stderr, flush=True)
                continue
            crashes += out.crashes
            lost += out.volumes_lost
            bridge += out.bridge_crashes
        if args.progress and n % args.progress == 0:
            print(f"  {n}/{len(seeds)} seeds, {failed} failed", file=sys.stderr, flush=True)
    took = time.monotonic() - started
    print(
        f"helved simulate: {len(seeds)} seeds, {failed} failed; {crashes} pipeline crashes "
        f"({lost} with the recovery volume lost), {bridge} bridge crashes; {took:.0f} s"
    )
    return 1 if failed else 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "simulate",
        help="the seeded fault simulation: crashes, lost volumes, OS faults; checks the invariants",
        description=(
            "Run the real dataflow with recovery, the OS bridge and the OS emulator over an "
            "in-memory broker while a seeded world sends decisions, crashes the pipeline and the "
            "bridge, loses recovery volumes and delays, duplicates and reorders receipts; then "
            "check that OS pays what each sak's last OK decision says, that no Oppdrag reached OS "
            "twice with different bytes, that every decision has one honest final status and "
            "that the confirmed state pays what OS pays."
        ),
    )
    p.add_argument("--seeds", type=int, default=100, help="how many seeds (default 100)")
    p.add_argument("--first", type=int, default=0, help="the first seed (default 0)")
    p.add_argument("--seed", type=int, help="run this one seed")
    p.add_argument("--saker", type=int, default=4, help="saker per seed (default 4)")
    p.add_argument("--decisions", type=int, default=5, help="decisions per sak (default 5)")
    p.add_argument("--lose-receipts", action="store_true", help="OS also loses receipts for good")
    p.add_argument("--keep", help="keep every seed's directory under this one")
    p.add_argument("--progress", type=int, default=0, help="a progress line every N seeds")
    p.set_defaults(func=run)
