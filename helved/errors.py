"""helved's exceptions: one root, structured fields, stable codes.

    HelvedError
    ├── RequestRejected        a request answered with FEILET (statusCode and a stable ErrorCode;
    │                          see docs/errors.md)
    ├── ReceiptRejected        a kvittering that cannot be applied (goes to the DLQ)
    ├── InputFileError         a malformed `helved replay` input file
    ├── AvstemmingInputError   records `helved avstemming --records` cannot read (oppdrag.avstemming)
    ├── StateFormatError       changelog bytes that are no sak state of this version (statelog)
    ├── RecoveryDirError       a recovery directory `helved run` cannot use (startup)
    ├── CommandError           a CLI command that fails with one line and an exit code (cli_support)
    ├── BrokerUnavailable, TopicMismatch, TopicMissing, DeliveryFailed (UnknownTopic),
    │   BrokerFault            the broker and its topics (kafka.*)
    ├── Refused, NotSignedIn   an operator action refused with its reason; no valid sign-in (console)
    └── dev and test only: StackFailed (devstack), StateMismatch, Unparseable (emulator),
        SimulatedCrash, SimulationFailure (sim)

The shell ones also subclass the builtin they replaced (RuntimeError, ValueError), so callers
that caught those still do. Foreign exceptions (orjson, lxml, confluent-kafka) are translated at
the edge with `raise ... from exc`.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """Stable codes in `error.msg` of a FEILET status. Never rename: senders match on them."""

    INVALID_JSON = "INVALID_JSON"
    MISSING_FIELD = "MISSING_FIELD"
    INVALID_FIELD = "INVALID_FIELD"
    NO_PERIODS = "NO_PERIODS"
    EN_GANG_ACROSS_YEAR = "EN_GANG_ACROSS_YEAR"
    DUPLICATE_FOM = "DUPLICATE_FOM"
    DUPLICATE_TOM = "DUPLICATE_TOM"
    TOM_BEFORE_FOM = "TOM_BEFORE_FOM"
    TOO_LONG_PERIOD = "TOO_LONG_PERIOD"
    ZERO_BELOP = "ZERO_BELOP"
    WEEKEND_DAY_PAID = "WEEKEND_DAY_PAID"
    DUPLICATE_DAY = "DUPLICATE_DAY"
    SAKID_LENGTH = "SAKID_LENGTH"
    BEHANDLINGID_LENGTH = "BEHANDLINGID_LENGTH"
    SAKSBEHANDLER_LENGTH = "SAKSBEHANDLER_LENGTH"
    BESLUTTER_LENGTH = "BESLUTTER_LENGTH"
    IMMUTABLE_FIELD_SAKID = "IMMUTABLE_FIELD_SAKID"
    IMMUTABLE_FIELD_IDENT = "IMMUTABLE_FIELD_IDENT"
    IMMUTABLE_FIELD_STONAD = "IMMUTABLE_FIELD_STONAD"
    IMMUTABLE_FIELD_PERIODETYPE = "IMMUTABLE_FIELD_PERIODETYPE"
    UTBETALING_NOT_FOUND = "UTBETALING_NOT_FOUND"
    ONLY_BETALENDE_ENHET_CHANGED = "ONLY_BETALENDE_ENHET_CHANGED"
    OPPDRAG_REJECTED = "OPPDRAG_REJECTED"
    OPPDRAG_TECHNICAL_ERROR = "OPPDRAG_TECHNICAL_ERROR"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    OPPDRAG_TOO_LARGE = "OPPDRAG_TOO_LARGE"
    OVERLAPPING_PERIODS = "OVERLAPPING_PERIODS"
    MIXED_ENHET = "MIXED_ENHET"
    STONAD_NOT_SUPPORTED = "STONAD_NOT_SUPPORTED"
    FAGOMRADE_TILLST_NOT_ALLOWED = "FAGOMRADE_TILLST_NOT_ALLOWED"
    PERIODETYPE_NOT_SUPPORTED = "PERIODETYPE_NOT_SUPPORTED"


class DlqReason(StrEnum):
    """Why a record went to the DLQ without a status (the `error` header starts with it)."""

    MISSING_KEY = "MISSING_KEY"
    UNKNOWN_TOPIC = "UNKNOWN_TOPIC"


DOC_BASE = "docs/errors.md#"


class HelvedError(Exception):
    """Root of every error helved raises on purpose."""


class RequestRejected(HelvedError):
    """A request that is answered with FEILET. `status_code` follows HTTP: 400, 404, 409, 500."""

    def __init__(self, status_code: int, code: ErrorCode, detail: str) -> None:
        super().__init__(f"{code.value}: {detail}")
        self.status_code = status_code
        self.code = code
        self.detail = detail

    @property
    def msg(self) -> str:
        return f"{self.code.value}: {self.detail}"

    @property
    def doc(self) -> str:
        return DOC_BASE + self.code.value.lower()


def bad_request(code: ErrorCode, detail: str) -> RequestRejected:
    return RequestRejected(400, code, detail)


class ReceiptRejected(HelvedError):
    """A kvittering that changes nothing: unreadable, no known alvorlighetsgrad, or unmatched."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class InputFileError(HelvedError):
    """A `helved replay` input file that cannot be read."""
