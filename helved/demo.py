"""`helved demo`: the whole of helved on one machine, with dagpenger decisions going through.

Starts the embedded broker (unless HELVED_BOOTSTRAP_SERVERS names one), creates the topics,
starts the pipeline (`helved run`, with recovery) and the OS bridge with the OS emulator, sends
the example decisions below and prints every status as it arrives and, after each OK, what OS
now pays on the sak. Ctrl-C stops everything in order (console, pipeline, bridge, broker);
`--once` stops by itself when every example has its final status.

Without `--once` it also starts the operator console (`helved.console`, issue 16) beside the
pipeline: an archive on a SQLite file in the working directory following the demo's broker,
served on a free loopback port, and prints its URL and one token per role, so a newcomer can
open it and follow a request from the decision to what OS pays. `--once` starts no console (it
stops as soon as every example is answered: nobody could open it), and so takes no longer than
before; `--no-console` leaves it out of a run without `--once`.

The examples (realistic dagpenger: 14-day meldeperioder Monday-Sunday, paid on weekdays):
- SAK-1001: a new sak (one reduced day), then a change sent right behind it (the reduced day
  corrected, the next meldeperiode added): the change waits until the first Oppdrag's receipt
  is applied, then goes out as an ENDR Oppdrag;
- SAK-1005: a new sak with a ferietillegg, then a stop (no days left: every utbetaling stopped);
- SAK-1013: an invalid decision (saksbehandler longer than OS's 8 characters): FEILET and the
  record on the DLQ.
Nothing printed holds the person's ident.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import orjson

from helved.cli_support import EXIT_INTERRUPTED, on_interrupt
from helved.config import Settings
from helved.domain.model import Fagsystem
from helved.emulator import PaidMap
from helved.emulator.gateway import EmulatedOs
from helved.examples.dagpenger import IDENT, decision, meldeperiode
from helved.fagsystemer import dagpenger
from helved.kafka.consumer import Follower
from helved.kafka.partitioner import key_in_same_partition
from helved.records import InRecord, OutRecord
from helved.views.payments import Widths, payment_rows, payment_table
from helved.views.status import StatusLog, describe_status, dlq_error

# ---------------------------------------------------------------------------------------------
# The examples


@dataclass(frozen=True)
class Example:
    key: str
    sak: str
    title: str
    decision: dict[str, Any]
    fagsystem: Fagsystem = dagpenger.FAGSYSTEM
    # The fagområder OS pays the sak under (what the demo shows after OK).
    fagområder: tuple[str, ...] = ("DP",)
    expected: str = "OK"  # the final status the demo expects


# Client ids of the other senders (UUIDs, fixed so the demo is the same every run).
_AAP_MELDEKORT = "0b6a3e1c-2f4d-4c5b-9a8e-7d6c5b4a3f21"
_TS_TILSYN = "1c7b4f2d-3e5a-4d6c-8b9f-8e7d6c5b4a32"
_TS_LÆREMIDLER = "2d8c5a3e-4f6b-4e7d-9cae-9f8e7d6c5b43"
_HISTORISK = "3e9d6b4f-5a7c-4f8e-8dbf-af9e8d7c6b54"
_VALP = "4fae7c5a-6b8d-4a9f-9ec0-b0af9e8d7c65"


def other_fagsystems() -> list[Example]:
    """One decision of each other fagsystem (fagsystemer.md): AAP with an avvent, tiltakspenger
    with barnetillegg, tilleggsstønader over two fagområder (two Oppdrag, one request),
    historisk (utbetFrekvens ENG) and valp (paid by its kostnadssted)."""
    vedtak = "2025-08-20T10:00:00"
    return [
        Example(
            "aap-2001-1",
            "AAP-2001",
            "AAP: meldekort 4-15 Aug, 700/day, with an avvent (avregning) 11-15 Aug",
            {
                "sakId": "AAP-2001",
                "behandlingId": "B-1",
                "ident": IDENT,
                "vedtakstidspunktet": vedtak,
                "utbetalinger": [
                    {"id": _AAP_MELDEKORT, "fom": "2025-08-04", "tom": "2025-08-15", "sats": 700, "utbetaltBeløp": 700}
                ],
                "avvent": {"fom": "2025-08-11", "tom": "2025-08-15", "årsak": "AVVENT_AVREGNING"},
            },
            Fagsystem.AAP,
            ("AAP",),
        ),
        Example(
            "tp-3001-1",
            "TP-3001",
            "tiltakspenger: meldeperiode 4-15 Aug, 300/day and a barnetillegg of 50/day",
            {
                "sakId": "TP-3001",
                "behandlingId": "B-1",
                "personident": IDENT,
                "vedtakstidspunkt": vedtak,
                "perioder": [
                    {
                        "meldeperiode": "M-1",
                        "fom": "2025-08-04",
                        "tom": "2025-08-15",
                        "beløp": 300,
                        "stønad": "JOBBKLUBB",
                    },
                    {
                        "meldeperiode": "M-1",
                        "fom": "2025-08-04",
                        "tom": "2025-08-15",
                        "beløp": 50,
                        "stønad": "JOBBKLUBB",
                        "barnetillegg": True,
                    },
                ],
            },
            Fagsystem.TILTAKSPENGER,
            ("TILTPENG",),
        ),
        Example(
            "ts-4001-1",
            "TS-4001",
            "tilleggsstønader: tilsyn barn 3000/month and læremidler 500/month: two fagområder, two Oppdrag",
            {
                "sakId": "TS-4001",
                "behandlingId": "B-1",
                "personident": IDENT,
                "vedtakstidspunkt": vedtak,
                "periodetype": "MND",
                "utbetalinger": [
                    {
                        "id": _TS_TILSYN,
                        "stønad": "TILSYN_BARN_AAP",
                        "perioder": [{"fom": "2025-08-01", "tom": "2025-09-30", "beløp": 3000}],
                    },
                    {
                        "id": _TS_LÆREMIDLER,
                        "stønad": "LÆREMIDLER_AAP",
                        "perioder": [{"fom": "2025-08-01", "tom": "2025-08-31", "beløp": 500}],
                    },
                ],
            },
            Fagsystem.TILLEGGSSTØNADER,
            ("TILLSTPB", "TILLSTLM"),
        ),
        Example(
            "hist-5001-1",
            "H-5001",
            "historisk: a parykk, 4000 once",
            {
                "id": _HISTORISK,
                "sakId": "H-5001",
                "behandlingId": "B-1",
                "personident": IDENT,
                "stønad": "PARYKK",
                "vedtakstidspunkt": vedtak,
                "periodetype": "EN_GANG",
                "perioder": [{"fom": "2025-08-01", "tom": "2025-08-01", "beløp": 4000}],
            },
            Fagsystem.HISTORISK,
            ("HELSREF",),
        ),
        Example(
            "valp-6001-1",
            "V-6001",
            "valp: skolepenger 12000 once, paid by kostnadssted 0315",
            {
                "id": _VALP,
                "sakId": "V-6001",
                "behandlingId": "B-1",
                "personIdent": IDENT,
                "periode": {"fom": "2025-08-01", "tom": "2025-08-31"},
                "belop": 12000,
                "tilskuddstype": "SKOLEPENGER",
                "tiltakskode": "HOYERE_UTDANNING",
                "kostnadssted": "0315",
                "saksbehandler": "Z123456",
                "besluttetTidspunkt": "2025-08-20T08:00:00Z",
            },
            Fagsystem.VALP,
            ("TILSOPP",),
        ),
    ]


def examples(partitions: int) -> list[Example]:
    """The demo's decisions in sending order. A request meant to follow another on the same sak
    gets a key in that request's partition, so it is read after it (Kafka orders a partition,
    not a topic)."""
    ny_1 = "dp-1001-1"
    endring_1 = key_in_same_partition("dp-1001-2", ny_1, partitions)
    ny_5 = "dp-1005-1"
    stans_5 = key_in_same_partition("dp-1005-2", ny_5, partitions)
    ferietillegg = {
        "meldeperiode": "2025-08-04/2025-08-17",
        "dato": "2025-08-15",
        "sats": 1200,
        "utbetaltBeløp": 1200,
        "utbetalingstype": "DagpengerFerietillegg",
    }
    return [
        Example(
            ny_1,
            "SAK-1001",
            "new sak: meldeperiode 4-17 Aug, 1000/day, 7 Aug reduced to 700",
            decision(
                "SAK-1001",
                "B-1",
                "2025-08-18T09:30:00",
                meldeperiode("2025-08-04", changes={"2025-08-07": 700}),
            ),
        ),
        Example(
            endring_1,
            "SAK-1001",
            "change, sent right behind: 7 Aug corrected to 1000, meldeperiode 18-31 Aug added (25 Aug not paid)",
            decision(
                "SAK-1001",
                "B-2",
                "2025-09-01T10:15:00",
                meldeperiode("2025-08-04") + meldeperiode("2025-08-18", changes={"2025-08-25": 0}),
            ),
        ),
        Example(
            ny_5,
            "SAK-1005",
            "new sak: meldeperiode 4-17 Aug, 800/day, and a ferietillegg of 1200",
            decision("SAK-1005", "B-1", "2025-08-18T11:00:00", meldeperiode("2025-08-04", 800) + [ferietillegg]),
        ),
        Example(
            stans_5,
            "SAK-1005",
            "stop: no paid days any more",
            decision("SAK-1005", "B-2", "2025-08-20T08:45:00", []),
        ),
        Example(
            "dp-1013-1",
            "SAK-1013",
            "invalid: saksbehandler 'dagpenger' is longer than OS's 8 characters",
            decision(
                "SAK-1013",
                "B-1",
                "2025-08-18T12:00:00",
                meldeperiode("2025-08-04"),
                saksbehandler="dagpenger",
            ),
            expected="FEILET",
        ),
        *other_fagsystems(),
    ]


def dryrun_example() -> Example:
    """Sent once the others are answered: a simulation against SAK-1001's confirmed state."""
    return Example(
        "dp-1001-sim",
        "SAK-1001",
        "dryrun: what if 4-8 Aug had been paid 600/day? (nothing is paid, nothing changes)",
        decision(
            "SAK-1001",
            "B-3",
            "2025-09-02T08:00:00",
            meldeperiode("2025-08-04", changes={f"2025-08-0{d}": 600 for d in range(4, 9)})
            + meldeperiode("2025-08-18", changes={"2025-08-25": 0}),
            dryrun=True,
        ),
    )


def send_examples(settings: Settings, chosen: list[Example]) -> None:
    from helved.kafka import ReliableProducer

    with ReliableProducer(settings) as producer:
        for ex in chosen:
            producer.send(OutRecord(settings.topics.input(ex.fagsystem), ex.key, orjson.dumps(ex.decision)))
        producer.flush_or_raise(30)


# ---------------------------------------------------------------------------------------------
# Presentation


# The demo's payment tables are a little narrower than `helved sak`'s.
_DEMO_WIDTHS = Widths(klassekode=15, per_day=7, total=7)


class Printer:
    """Prints the demo's events as they arrive: statuses, DLQ records, OS payments."""

    def __init__(self, out: TextIO, chosen: list[Example], os_: EmulatedOs) -> None:
        self.out = out
        self.chosen = {ex.key: ex for ex in chosen}
        self.os = os_
        self.started = time.monotonic()
        self.statuses = StatusLog()
        self.oppdrag: dict[str | None, bytes] = {}
        self.dlq: list[tuple[str | None, str]] = []
        self.simulated = False

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def _t(self) -> str:
        return f"+{time.monotonic() - self.started:.2f}s"

    def sent(self) -> None:
        self.say(f"{'':8}  {'request':<11}  {'sak':<8}  decision")
        for ex in self.chosen.values():
            self.say(f"{'sent':>8}  {ex.key:<11}  {ex.sak:<8}  {ex.title}")
        self.say()
        self.say(f"{'':8}  {'request':<11}  {'sak':<8}  {'status':<11}  details")

    def on_record(self, rec: InRecord, topics: Any) -> None:
        if rec.topic in topics.dryruns():
            if rec.value is not None and rec.key in self.chosen:
                self.simulation(rec)
            return
        if rec.topic == topics.oppdrag:
            if rec.value is not None:
                self.oppdrag.setdefault(rec.key, rec.value)
            return
        if rec.topic == topics.dlq:
            error = dlq_error(rec)
            self.dlq.append((rec.key, error))
            ex = self.chosen.get(rec.key or "")
            self.say(f"{self._t():>8}  {rec.key or '-':<11}  {ex.sak if ex else '?':<8}  {'DLQ':<11}  {error}")
            return
        status = self.statuses.add(rec)
        if status is None or rec.key not in self.chosen:
            return
        ex = self.chosen[rec.key]
        word = status.get("status", "?")
        self.say(f"{self._t():>8}  {rec.key:<11}  {ex.sak:<8}  {word:<11}  {describe_status(status)}")
        if word == "OK" and not status.get("simulering"):
            # What OS paid right after this request's Oppdrag: the bridge may be further already.
            oppdrag = self.oppdrag.get(rec.key)
            for fagområde in ex.fagområder:
                if oppdrag and len(ex.fagområder) == 1:
                    paid = self.os.paid_after(oppdrag, fagområde, ex.sak)
                else:
                    paid = self.os.paid(fagområde, ex.sak)
                self.payments(_sak_in(ex, fagområde), paid, indent=" " * 10)

    def simulation(self, rec: InRecord) -> None:
        """The dryrun answer as a table: per month, before, after, etterbetaling, feilutbetaling."""
        from helved.os.dryrun import month_summary, request_date

        assert rec.value is not None
        result = orjson.loads(rec.value)
        ex = self.chosen[rec.key or ""]
        self.simulated = True
        indent = " " * 10
        if result.get("@type") != "v2":
            self.say(f"{self._t():>8}  {rec.key:<11}  {ex.sak:<8}  {'SIMULERT':<11}  {result.get('status')}: no change")
            return
        self.say(f"{self._t():>8}  {rec.key:<11}  {ex.sak:<8}  {'SIMULERT':<11}  what OS would pay:")
        self.say(f"{indent}  {'month':<8} {'before':>8} {'after':>8} {'etterbetaling':>14} {'feilutbetaling':>15}")
        for row in month_summary(result, request_date(rec)):
            self.say(
                f"{indent}  {row['month']:<8} {row['before']:>8} {row['after']:>8}"
                f" {row['etterbetaling']:>14} {row['feilutbetaling']:>15}"
            )

    def payments(self, sak: str, paid: PaidMap, indent: str) -> None:
        rows = payment_rows(paid)
        if not rows:
            self.say(f"{indent}OS pays nothing on {sak}")
            return
        self.say(f"{indent}OS now pays on {sak}:")
        for line in payment_table(rows, indent + "  ", _DEMO_WIDTHS):
            self.say(line)

    def all_final(self) -> bool:
        return all(self.statuses.final(key) is not None for key in self.chosen)

    def summary(self) -> None:
        self.say()
        self.say("Summary")
        self.say(f"  {'request':<11}  {'sak':<8}  statuses")
        for ex in self.chosen.values():
            self.say(f"  {ex.key:<11}  {ex.sak:<8}  {' → '.join(self.statuses.sequence(ex.key)) or '(none yet)'}")
        self.say(f"  DLQ: {len(self.dlq)} record(s)" + "".join(f"\n    {k}: {e}" for k, e in self.dlq))
        self.say()
        self.say("What OS pays, per sak")
        for ex in {(ex.sak, ex.fagområder): ex for ex in self.chosen.values()}.values():
            for fagområde in ex.fagområder:
                self.payments(_sak_in(ex, fagområde), self.os.paid(fagområde, ex.sak), indent="  ")


def avstemming_of_the_day(printer: Printer, settings: Settings) -> None:
    """The grensesnittavstemming of the demo's day as a dry run (nothing is produced): what
    helved would report to OS per fagområde, and OS's (the emulator's) check of it against what
    it received and answered (`avstemming.md`)."""
    from helved.avstemming import events, located
    from helved.domain.avstemming import Kategori, avstem
    from helved.kafka.consumer import read_all
    from helved.oppdrag.avstemming import avstemming_xml
    from helved.oslo import record_time

    topics = settings.topics
    records = read_all(settings, [topics.oppdrag, topics.kvittering])
    # The days the demo's Oppdrag were sent on (their records' time, as their avstemming keys).
    days = sorted({t.date() for r in records if r.topic == topics.oppdrag and (t := record_time(r.timestamp_ms))})
    if not days:
        return
    fom, tom = days[0], days[-1]
    resultat = avstem(events(located(records), topics), fom, tom)
    printer.say()
    span = fom.isoformat() if fom == tom else f"{fom.isoformat()}..{tom.isoformat()}"
    printer.say(f"Grensesnittavstemming of {span} (dry run: nothing sent to OS's queue)")
    header = "  ".join(f"{k.value:>12}" for k in Kategori)
    printer.say(f"  {'fagområde':<9}  {'id':<22}  {header}  OS's check")
    for a in resultat.avstemminger:
        g = a.grunnlag
        cells = "  ".join(f"{f'{g.get(k).antall}/{g.get(k).beløp}':>12}" for k in Kategori)
        answer = printer.os.hand_over_avstemming([avstemming_xml(m) for m in a.meldinger])
        check = "holds" if answer.holds else ("MISMATCH: " + answer.line.split(": ", 1)[-1] if answer.line else "?")
        printer.say(f"  {a.fagområde:<9}  {a.avstemming_id:<22}  {cells}  {check}")


# ---------------------------------------------------------------------------------------------
# The run


def run_demo(
    settings: Settings,
    *,
    once: bool,
    timeout_s: float,
    out: TextIO = sys.stdout,
    workdir: Path | None = None,
    keep: bool = False,
    broker_timeout_s: float = 10.0,
    processes: int = 1,
    console: bool = True,
) -> int:
    """The demo; 0 when every example got its expected final status (or it was stopped).
    `processes` > 1 runs the pipeline as a Bytewax cluster of that many `helved run` processes.
    `console`: start the operator console too (never with `once`)."""
    from helved.devstack import Stack, StackFailed

    temp = workdir is None
    workdir = workdir or Path(tempfile.mkdtemp(prefix="helved-demo-"))

    def say(text: str = "") -> None:
        print(text, file=out, flush=True)

    if not settings.embedded_broker and not settings.topic_prefix:
        # A broker that may hold topics from earlier runs: fresh topics, so the examples start clean.
        settings = dataclasses.replace(settings, topic_prefix=f"demo-{time.strftime('%Y%m%d%H%M%S')}.")
    stack = Stack(settings, workdir, snapshot_s=0.5, broker_timeout_s=broker_timeout_s, keep_os_history=True)
    started = time.monotonic()
    # During start-up Ctrl-C raises KeyboardInterrupt at once (the stack started so far is
    # stopped below); once running, Ctrl-C and SIGTERM set a flag that the loop checks every
    # 0.1 s: an exception raised inside a Kafka client call comes out mangled, and the stop
    # must run in order. Should a client call hold the process past `GRACE_S` after Ctrl-C,
    # `helved.cli_support.Interrupts` kills what the stack started and ends it (exit 130).
    stopping = _StopFlag()
    forget_cleanup = on_interrupt(lambda: _kill(stack, workdir if temp and not keep else None))
    served: Any = None  # the console, when started (helved.console.server.Running)
    try:
        stack.start_broker()
        settings = stack.settings
        topics = settings.topics
        where = "embedded Kafka broker (Tansu, in memory)" if stack.broker else "Kafka broker"
        prefix = f", topic prefix {settings.topic_prefix!r}" if settings.topic_prefix else ""
        say(f"helved demo: {where} on {settings.bootstrap_servers}{prefix}")
        say(f"helved demo: {len(topics.all())} topics ready, {settings.partitions} partitions each")
        pipelines = stack.start_pipelines(processes)
        if processes == 1:
            started_as = f"helved run (pid {pipelines[0].pid})"
        else:
            pids = ", ".join(str(p.pid) for p in pipelines)
            started_as = f"a Bytewax cluster of {processes} helved run processes (pids {pids}) on loopback"
        say(
            f"helved demo: pipeline started: {started_as}, "
            f"recovery in {stack.recovery_dir}, snapshot every {stack.snapshot_s:g} s"
        )
        stack.start_bridge()
        say(f"helved demo: OS bridge started with the OS emulator as OS, state in {stack.os_state_dir}")
        if console and not once:
            served = start_console(settings, workdir, say)
        chosen = examples(settings.partitions)
        printer = Printer(out, chosen, stack.os)
        senders = len({ex.fagsystem for ex in chosen})
        say(f"helved demo: sending {len(chosen)} decisions of {senders} fagsystems to their input topics")
        say()
        send_examples(settings, chosen)
        printer.sent()
        stopping.started()  # from here Ctrl-C only sets the flag: the loop stops in order
        deadline = time.monotonic() + timeout_s
        done = False
        simulation = dryrun_example()
        with Follower(settings, [topics.status, topics.dlq, topics.oppdrag, *topics.dryruns()]) as follower:
            while not stopping.is_set():
                stack.check()
                for rec in follower.poll(0.1):
                    printer.on_record(rec, topics)
                if simulation.key not in printer.chosen and printer.all_final() and printer.dlq:
                    printer.chosen[simulation.key] = simulation
                    say(f"{'sent':>8}  {simulation.key:<11}  {simulation.sak:<8}  {simulation.title}")
                    send_examples(settings, [simulation])
                if not done and printer.all_final() and printer.dlq and printer.simulated:
                    done = True
                    printer.summary()
                    avstemming_of_the_day(printer, settings)
                    say()
                    took = time.monotonic() - started
                    say(f"helved demo: all {len(printer.chosen)} decisions answered in {took:.1f} s")
                    if once:
                        return 0 if _as_expected(printer) else 1
                    env = f"HELVED_BOOTSTRAP_SERVERS={settings.bootstrap_servers}" + (
                        f" HELVED_TOPIC_PREFIX={settings.topic_prefix}" if settings.topic_prefix else ""
                    )
                    say("helved demo: still running; in another terminal try:")
                    say(f"  {env} helved sak SAK-1001 --os-state {stack.os_state_dir}")
                    say(f"  {env} helved send decision.json --wait 30")
                    if served is not None:
                        say(f"  open {served.url} (the console; a token above, any NAV ident as your name)")
                    say("helved demo: Ctrl-C stops")
                if not done and time.monotonic() > deadline:
                    printer.summary()
                    say(f"helved demo: not every decision was answered within {timeout_s:g} s")
                    return 1
        say()
        say("helved demo: stopping")
        return EXIT_INTERRUPTED if stopping.by_signal else 0
    except StackFailed as exc:
        say(f"helved demo: {exc}")
        return 1
    finally:
        stopping.set()  # from here on the clients may see the broker go: their complaints are noise
        if served is not None:  # first: its archive follows the broker that is about to go
            served.close()
        for pipeline in stack.pipelines:  # SIGINT, SIGKILL after 1 s: recovery resumes either way
            pipeline.stop(1.0)
        stack.stop()
        stopping.restore()
        forget_cleanup()
        if temp and not keep:
            shutil.rmtree(workdir, ignore_errors=True)
        elif keep:
            say(f"helved demo: kept {workdir}")


def start_console(settings: Settings, workdir: Path, say: Any) -> Any:
    """The operator console beside the demo: its archive in `workdir/console.sqlite` following
    the demo's broker, served on a free loopback port; prints the URL and the tokens
    (`HELVED_CONSOLE_OPERATOR_TOKEN` / `HELVED_CONSOLE_VIEWER_TOKEN` fix them). None, after a
    line saying why, when it cannot start: the demo goes on without it."""
    try:
        from helved.console.auth import Tokens
        from helved.console.server import build, start_in_thread

        tokens = Tokens.from_env()
        dsn = f"sqlite:///{workdir / 'console.sqlite'}"
        running = start_in_thread(build(dsn, tokens, settings=settings, say=say))
    except Exception as exc:  # a missing extra, a bad token setting, a taken port: no console
        say(f"helved demo: the operator console did not start ({type(exc).__name__}: {exc}); going on without it")
        return None
    say(f"helved demo: operator console on {running.url} (archive in {workdir / 'console.sqlite'})")
    say(f"  operator token: {tokens.operator}")
    say(f"  viewer token:   {tokens.viewer}")
    return running


class _StopFlag:
    """Set by SIGINT/SIGTERM (when running in the main thread) or by `set()`; setting it also
    silences librdkafka's connection complaints (a terminal's Ctrl-C stops the embedded broker
    too, which shares the demo's process group). Until `started()` a signal also raises
    KeyboardInterrupt: start-up is abandoned, not finished first."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._previous: dict[int, Any] = {}
        self._starting = True
        self.by_signal = False
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._on_signal)

    def started(self) -> None:
        self._starting = False

    def _on_signal(self, signum: int, frame: object) -> None:
        self.by_signal = True
        self.set()
        if self._starting:
            self._starting = False  # once: the stop in `finally` must not be interrupted
            raise KeyboardInterrupt

    def set(self) -> None:
        self._event.set()
        logging.getLogger("helved.kafka.librdkafka").setLevel(logging.CRITICAL)

    def is_set(self) -> bool:
        return self._event.is_set()

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _kill(stack: Any, workdir: Path | None) -> None:
    """Ctrl-C's last resort (from the watchdog's thread): SIGKILL the pipeline processes, stop
    the broker, remove the temporary working directory."""
    for pipeline in list(stack.pipelines):
        pipeline.kill()
    if stack.broker is not None:
        stack.broker.stop(0.5)
    if workdir is not None:
        shutil.rmtree(workdir, ignore_errors=True)


def _as_expected(printer: Printer) -> bool:
    """Every example (the dryrun too) ended with the final status it expects."""
    for key, ex in printer.chosen.items():
        final = printer.statuses.final(key)
        if final is None or final.get("status") != ex.expected:
            return False
    return True


def _sak_in(ex: Example, fagområde: str) -> str:
    """How a sak is named in the payment tables: with its fagområde when it has several."""
    return f"{ex.sak} ({fagområde})" if len(ex.fagområder) > 1 else ex.sak
