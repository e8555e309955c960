"""Measure the time from sending a dagpenger decision to its OK status, end to end.

    python -m helved.latency [-n 100]

Embedded broker (or HELVED_BOOTSTRAP_SERVERS), `helved run` with recovery, the OS bridge with
the emulator; one decision at a time (a new sak, one 14-day meldeperiode), each timed from the
moment the producer has it acknowledged to the moment the OK status is read. Prints the median,
90th percentile and maximum. A measurement, not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import orjson

from helved.config import Settings
from helved.demo import decision, meldeperiode
from helved.devstack import Stack
from helved.kafka import ReliableProducer
from helved.kafka.consumer import Follower
from helved.records import OutRecord
from helved.views.status import StatusLog


def measure(n: int, settings: Settings, workdir: Path, timeout_s: float = 30.0) -> list[float]:
    times: list[float] = []
    with Stack(settings, workdir) as stack:
        s = stack.settings
        with ReliableProducer(s) as producer, Follower(s, [s.topics.status]) as follower:
            log = StatusLog()
            for i in range(n + 1):  # the first one warms up (connections, imports) and is not counted
                key = f"latency-{i}"
                value = orjson.dumps(decision(f"LAT-{i}", "B-1", "2025-08-18T09:30:00", meldeperiode("2025-08-04")))
                producer.send(OutRecord(s.topics.dagpenger, key, value))
                producer.flush_or_raise(10)
                sent = time.monotonic()
                while log.final(key) is None:
                    stack.check()
                    if time.monotonic() - sent > timeout_s:
                        raise TimeoutError(f"no final status for {key} within {timeout_s:g} s")
                    for rec in follower.poll(0.005):
                        log.add(rec)
                if log.final(key)["status"] != "OK":  # type: ignore[index]
                    raise RuntimeError(f"{key}: {log.sequence(key)}")
                if i:
                    times.append(time.monotonic() - sent)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m helved.latency", description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=100, help="decisions to time (default 100)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="helved-latency-") as tmp:
        times = sorted(measure(args.n, Settings.from_env(), Path(tmp)))
    p90 = times[int(0.9 * (len(times) - 1))]
    print(
        f"decision -> OK over {len(times)} decisions: median {statistics.median(times) * 1000:.0f} ms, "
        f"p90 {p90 * 1000:.0f} ms, max {times[-1] * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
