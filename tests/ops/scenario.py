"""One replay input for the ops tests: new saker answered 00 and 08, a dryrun, an invalid request,
a request without a key and a receipt that is no receipt. Every request carries an ident."""

from __future__ import annotations

from pathlib import Path

from tests.builders import TOPICS, days, dp, line

EXAMPLE = Path(__file__).resolve().parents[2] / "helved" / "examples" / "dagpenger.jsonl"
IDENTS = ("12345678910", "01020312345", "31129912345", "15076500565")
# The Oppdrag produced are answered in order: the first 00, the rest 08.
KVITTERING = "00,08"


def lines() -> list[str]:
    mp = days("2025-08-04/2025-08-17", "2025-08-04", "2025-08-08", 1000)
    return [
        line(TOPICS.dagpenger, "ops-a-1", dp(mp, sak="OPS-A", ident=IDENTS[0])),
        line(TOPICS.dagpenger, "ops-b-1", dp(mp, sak="OPS-B", ident=IDENTS[1])),
        line(TOPICS.dagpenger, "ops-c-1", dp(mp, sak="OPS-C", ident=IDENTS[2], dryrun=True)),
        line(TOPICS.dagpenger, "ops-d-1", dp(mp, sak="OPS-D", ident=IDENTS[3], saksbehandler="dagpenger")),
        line(TOPICS.dagpenger, None, dp(mp, sak="OPS-E", ident=IDENTS[0])),
        line(TOPICS.kvittering, "ops-k-1", "<not-a-receipt/>"),
    ]


def write(path: Path) -> Path:
    path.write_text("\n".join(lines()) + "\n")
    return path
