"""OS in a process of its own for the open-loop bench: the OS bridge (`helved.os.bridge`) with
either the emulator (`helved.emulator.gateway.EmulatedOs`, the adapter `helved os-emulator`
runs) or `echo` (every Oppdrag accepted at no cost, `helved.bench.inprocess.EchoOs`) as OS.

    python -m helved.bench.osproc --kind echo|emulator --state-dir DIR

The broker comes from `HELVED_BOOTSTRAP_SERVERS`. SIGTERM/SIGINT finish the current batch and
stop. Running OS beside the pipeline as its own process keeps its CPU off the pipeline's and
the load generator's interpreter lock, as in production, where OS is another machine.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from helved.config import Settings
from helved.os.port import AvstemmingAnswer, SimulationAnswer

from .inprocess import EchoOs


class EchoGateway:
    """An `OsGateway` that accepts every Oppdrag (00) and books nothing: the pipeline's cost alone."""

    def __init__(self) -> None:
        self._echo = EchoOs()

    def hand_over(self, oppdrag_xml: bytes) -> list[bytes]:
        return self._echo(oppdrag_xml)

    def simulate_request(self, simulering_xml: bytes) -> SimulationAnswer:
        raise NotImplementedError("the echo OS does not simulate")  # the bench sends no dryrun

    def hand_over_avstemming(self, messages: Sequence[bytes]) -> AvstemmingAnswer:
        raise NotImplementedError("the echo OS takes no avstemming")  # the bench runs none

    def close(self) -> None:
        pass


def gateway(kind: str, state_dir: Path) -> Any:
    if kind == "echo":
        return EchoGateway()
    if kind == "emulator":
        from helved.emulator.gateway import EmulatedOs

        return EmulatedOs(state_dir, None, 0)
    raise ValueError(f"unknown OS kind {kind!r} (echo | emulator)")


def main(argv: list[str] | None = None) -> int:
    from helved.os.bridge import run_bridge

    parser = argparse.ArgumentParser(prog="python -m helved.bench.osproc")
    parser.add_argument("--kind", choices=("echo", "emulator"), default="echo")
    parser.add_argument("--state-dir", required=True, type=Path)
    args = parser.parse_args(argv)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    args.state_dir.mkdir(parents=True, exist_ok=True)
    os_ = gateway(args.kind, args.state_dir)
    try:
        # Poll as the pipeline's consumers do: the bridge's fetch wait bounds one hop's latency.
        run_bridge(Settings.from_env(), os_, args.state_dir, stop, poll_s=0.05)
    finally:
        os_.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
