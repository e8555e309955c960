"""helved's read side: what a sak, a request's statuses and OS's payments look like.

Pure functions and values over records (`helved.records.InRecord`) or decoded values; no Kafka
client and no I/O here. Reading the topics is the caller's part (`helved.kafka.consumer`): the
CLI (`helved sak`, `helved status`), the demo, the latency measurement, the tests and the
operator console build what they show from these.

- `status`: the statuses per request with replays dropped (`StatusLog`), the final status,
  one line per status (`describe_status`, `status_line`), a DLQ record's reason (`dlq_error`);
- `sak`: a sak's confirmed utbetalinger (`confirmed_sak`) and its summary (`sak_summary`,
  `sak_json`), never with an ident (`without_ident`);
- `payments`: what OS pays on a sak as rows (`payment_rows`), JSON and a table.
"""

from helved.views.payments import PaymentRow, payment_json, payment_rows, payment_table
from helved.views.sak import (
    ConfirmedSak,
    confirmed_sak,
    sak_json,
    sak_summary,
    without_ident,
)
from helved.views.status import (
    FINAL,
    StatusLog,
    describe_status,
    dlq_error,
    status_event,
    status_line,
)

__all__ = [
    "FINAL",
    "ConfirmedSak",
    "PaymentRow",
    "StatusLog",
    "confirmed_sak",
    "describe_status",
    "dlq_error",
    "payment_json",
    "payment_rows",
    "payment_table",
    "sak_json",
    "sak_summary",
    "status_event",
    "status_line",
    "without_ident",
]
