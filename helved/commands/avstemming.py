"""`helved avstemming`: grensesnittavstemming, the daily reconciliation report to OS
(spec `avstemming.md`).

Offline, `--records FILE --fom D --tom D --out OUT`: records in the replay file format go in,
the messages come out as records of `helved.avstemming.v1`; no broker, no state.

Production (no `--records`): the next range (or `--fom/--tom`), reading every partition of
`helved.oppdrag.v1` and `helved.kvittering.v1` up to their end, producing the messages with
helved's checked idempotent producer, one fagområde at a time, then recording the run on
compacted `helved.avstemt.v1`. A crash before the record leaves no record: a retry computes the
same ids, and the OS bridge hands each id to OS once.

`--dryrun` computes only: one line per fagområde on stdout (id, messages, antall/beløp per
category; never an ident); `--out` writes the records.

Exit codes: 0 done, nothing to do, or refused (weekend, holiday, already run today, a range
already sent; the reason on stderr); 1 unreadable input, a key in another format, a broker
failure (nothing recorded), an explicit range overlapping a recorded one; 2 usage (dates,
`--fom` without `--tom`, fom after tom, `--out` into a missing directory): no OUT written.
"""

from __future__ import annotations

import argparse
import re
import sys
from datetime import date, datetime
from pathlib import Path

from helved.cli_support import NO_AUTO_CREATE, CommandError, report
from helved.oslo import OSLO

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)


def _date(text: str, flag: str) -> date:
    try:
        if not _DATE.fullmatch(text):  # exactly YYYY-MM-DD: no week or ordinal dates
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"{flag} {text!r} is not a date YYYY-MM-DD", 2) from None


def _range(args: argparse.Namespace) -> tuple[date, date] | None:
    if (args.fom is None) != (args.tom is None):
        raise CommandError("--fom and --tom go together", 2)
    if args.fom is None:
        return None
    fom, tom = _date(args.fom, "--fom"), _date(args.tom, "--tom")
    if fom > tom:
        raise CommandError(f"--fom {fom.isoformat()} is after --tom {tom.isoformat()}", 2)
    return fom, tom


def _out_path(args: argparse.Namespace) -> Path | None:
    if args.out is None:
        return None
    out = Path(args.out)
    if out.is_dir():
        raise CommandError(f"cannot write {args.out}: it is a directory", 2)
    if not out.parent.is_dir():
        raise CommandError(f"cannot write {args.out}: directory {out.parent} does not exist", 2)
    return out


def _today(args: argparse.Namespace) -> date:
    if args.today is not None:
        return _date(args.today, "--today")
    # Which day the scheduled run is for (the CronJob's "today"); the messages themselves depend
    # only on the range and the records, so a rerun with --today gives the same bytes.
    return datetime.now(OSLO).date()


def _say(text: str) -> None:
    print(f"helved avstemming: {text}", file=sys.stderr)


def _print_summary(resultat, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    import orjson

    from helved.avstemming import summary_json, summary_line

    for a in resultat.avstemminger:
        if as_json:
            print(orjson.dumps(summary_json(a)).decode())
        else:
            print(summary_line(a))


def _report_orphans(resultat) -> None:  # type: ignore[no-untyped-def]
    n = resultat.receipts_without_oppdrag
    if n:
        _say(f"{n} receipt(s) in range without their Oppdrag in the records, ignored")


def _compute(located_records, topics, fom: date, tom: date):  # type: ignore[no-untyped-def]
    from helved.avstemming import AvstemmingInputError, events
    from helved.domain.avstemming import avstem

    try:
        return avstem(events(located_records, topics), fom, tom)
    except AvstemmingInputError as exc:
        raise CommandError(str(exc), 1) from None


def run_offline(args: argparse.Namespace) -> int:
    from helved.avstemming import out_records, read_records_file, write_out
    from helved.config import Topics
    from helved.domain.avstemming import NothingToDo, Range, Refused, next_range
    from helved.errors import InputFileError

    wanted = _range(args)
    out = _out_path(args)
    if out is None and not args.dryrun:
        raise CommandError("--records needs --out (or --dryrun)", 2)
    if wanted is None:
        decision = next_range(_today(args), [])
        if isinstance(decision, (Refused, NothingToDo)):
            _say(decision.reason)
            return 0
        assert isinstance(decision, Range)
        wanted = decision.fom, decision.tom
    topics = Topics()
    try:
        records = read_records_file(Path(args.records), topics)
    except InputFileError as exc:
        raise CommandError(str(exc), 1) from None
    resultat = _compute(records, topics, *wanted)
    _report_orphans(resultat)
    outs = out_records(resultat, topics)
    if out is not None:
        try:
            write_out(out, outs)
        except OSError as exc:
            raise CommandError(f"cannot write {args.out}: {exc.strerror or exc}", 2) from None
    if args.dryrun:
        _print_summary(resultat, args.json)
    elif out is not None:
        fom, tom = wanted
        _say(
            f"{len(outs)} messages for {len(resultat.avstemminger)} fagområde(r), "
            f"{fom.isoformat()}..{tom.isoformat()}, written to {args.out}"
        )
    return 0


def run_production(args: argparse.Namespace) -> int:
    from helved.avstemming import located, out_records, recorded_runs, run_value, write_out
    from helved.cli_support import broker_settings, require_topics
    from helved.domain.avstemming import NothingToDo, Range, Refused, check_explicit, next_range
    from helved.kafka import BrokerUnavailable, DeliveryFailed, ReliableProducer
    from helved.kafka.consumer import TopicMissing, read_all
    from helved.records import OutRecord

    wanted = _range(args)
    out = _out_path(args)
    today = _today(args)
    settings = broker_settings(args.broker_timeout)
    topics = settings.topics
    needed = [topics.oppdrag, topics.kvittering, topics.avstemt] + ([] if args.dryrun else [topics.avstemming])
    require_topics(settings, needed, args.broker_timeout)
    try:
        runs = recorded_runs(read_all(settings, [topics.avstemt], args.read_timeout))
    except ValueError as exc:
        raise CommandError(f"{topics.avstemt}: {exc}", 1) from None
    except (TopicMissing, BrokerUnavailable, TimeoutError, RuntimeError) as exc:
        raise CommandError(f"reading {topics.avstemt}: {exc}", 1) from None
    if wanted is None:
        decision = next_range(today, runs)
        scheduled = True
    else:
        decision = check_explicit(today, Range(*wanted), runs)
        scheduled = False
    if isinstance(decision, Refused):
        _say(decision.reason)
        return decision.exit_code
    if isinstance(decision, NothingToDo):
        _say(decision.reason)
        return 0
    rng = decision
    try:
        records = read_all(settings, [topics.oppdrag, topics.kvittering], args.read_timeout)
    except (TopicMissing, BrokerUnavailable, TimeoutError, RuntimeError) as exc:
        raise CommandError(f"reading the Oppdrag and receipts: {exc}; nothing recorded", 1) from None
    resultat = _compute(located(records), topics, rng.fom, rng.tom)
    _report_orphans(resultat)
    outs = out_records(resultat, topics)
    if out is not None:
        try:
            write_out(out, outs)
        except OSError as exc:
            raise CommandError(f"cannot write {args.out}: {exc.strerror or exc}", 2) from None
    if args.dryrun:
        _print_summary(resultat, args.json)
        return 0
    try:
        with ReliableProducer(settings, extra_config=NO_AUTO_CREATE) as producer:
            # One fagområde at a time, each acknowledged before the next: a crash in between
            # leaves no run record, and the retry sends the same ids again.
            for a in resultat.avstemminger:
                for rec in outs:
                    if rec.key == a.fagområde:
                        producer.send(rec)
                producer.flush_or_raise(args.broker_timeout)
            producer.send(OutRecord(topics.avstemt, rng.key, run_value(today, rng, scheduled, resultat)))
            producer.flush_or_raise(args.broker_timeout)
    except DeliveryFailed as exc:
        raise CommandError(f"{exc}; the run is not recorded (a retry sends the same ids)", 1) from None
    for a in resultat.avstemminger:
        print(f"sent {len(a.meldinger)} messages for {a.fagområde} {rng.key}: id {a.avstemming_id}")
    _say(f"{rng.key} reconciled ({len(resultat.avstemminger)} fagområde(r)), recorded on {topics.avstemt}")
    return 0


def run(args: argparse.Namespace) -> int:
    try:
        if args.records is not None:
            return run_offline(args)
        return run_production(args)
    except CommandError as exc:
        return report("avstemming", exc)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "avstemming",
        help="grensesnittavstemming: reconcile a range of days with OS, per fagområde",
    )
    p.add_argument("--records", help="offline: a file of records in the replay format (no broker, no state)")
    p.add_argument("--fom", help="first day, YYYY-MM-DD (with --tom; default: the next range)")
    p.add_argument("--tom", help="last day, YYYY-MM-DD (with --fom)")
    p.add_argument("--out", help="write the messages as records (JSONL) to this file")
    p.add_argument("--dryrun", action="store_true", help="compute only: one line per fagområde, nothing sent")
    p.add_argument("--json", action="store_true", help="with --dryrun: one JSON object per fagområde")
    p.add_argument("--today", help="today's date, YYYY-MM-DD (default: today in Europe/Oslo; for tests)")
    p.add_argument("--broker-timeout", type=float, default=10.0, help="seconds to wait for the broker (10)")
    p.add_argument("--read-timeout", type=float, default=120.0, help="seconds to read the topics to their end (120)")
    p.set_defaults(func=run, clean_interrupt=True)
