"""An emulator of OS/UR (Oppdrag): the oracle of helved's strongest tests.

It reads Oppdrag XML on its own terms (lxml, local names, trimmed texts; never helved's Oppdrag
builder), books it in a ledger with OS's chaining semantics, answers with a kvittering and can
say, per sak, klassekode and day, what is paid. See `ledger.py` for the booking rules and what a
line pays, and `xml.py` for the kvittering format, padding and the content hash.

`OsEmulator.respond(xml)` in order:
1. bytes that are not XML -> 12 on a minimal kvittering (nothing changes, nothing remembered:
   the answer depends on the bytes alone);
2. a document whose content hash was answered before -> the identical kvittering bytes, nothing
   changes (safe replays after a crash; a dropped receipt is found again this way);
3. schema-invalid (lxml XMLSchema, the shipped oppdragskjema-1.xsd unless another is given)
   -> 08 "Skjemafeil: <every validation error>";
4. injected rejection faults (08/12, see `Faults`) -> nothing changes, and nothing is remembered,
   so a resend gets a real answer (a transient failure);
5. otherwise the ledger's verdict (00 books the Oppdrag; 08 books nothing). The kvittering of
   steps 3 and 5 is remembered by content hash.
Delivery faults (delay, drop, duplicate, other namespace prefix) are then applied to whatever
kvittering was chosen, on every call including replays.

Randomness: one `random.Random(seed)` owned by the emulator; every `respond` call draws exactly
the same number of values whatever happens, so a run is reproducible from the seed and the input.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from lxml import etree

from . import ledger as _ledger
from . import xml as _xml
from .ledger import (
    ACCEPTED,
    EMPTY,
    Ledger,
    LedgerLine,
    Oppdrag,
    OppdragLinje,
    PaidMap,
    Simulation,
    Verdict,
    apply,
    paid,
    rejected,
    simulate,
    technical,
)
from .xml import NS, content_hash, parse_oppdrag, read_mmel

__all__ = [
    "ACCEPTED",
    "EMPTY",
    "NS",
    "Faults",
    "Ledger",
    "LedgerLine",
    "Oppdrag",
    "OppdragLinje",
    "OsEmulator",
    "PaidMap",
    "Reply",
    "Simulation",
    "Verdict",
    "apply",
    "content_hash",
    "paid",
    "parse_oppdrag",
    "read_mmel",
    "simulate",
]

FAULT_08 = Verdict("08", "B110999F", "Avvist av emulatoren (injisert funksjonell feil)", "CA10-INPUTKONTROLL")
FAULT_12 = Verdict("12", "B999998T", "Teknisk feil i Oppdrag (injisert av emulatoren)", "CA00-MQ-INPUT")


@dataclass(frozen=True, slots=True)
class Faults:
    """Fault injection. Shares are probabilities in [0, 1], drawn per `respond` call.

    reject_share   answer 08 instead of booking (new documents only)
    error_share    answer 12 instead of booking (new documents only; drawn after reject_share
                   from the same value, so reject_share + error_share <= 1)
    delay_share    give the reply a delay, uniform in [0, max_delay_s] seconds (the Kafka shell
                   waits that long before producing)
    drop_share     produce no kvittering at all (the ledger is still changed: OS booked it)
    duplicate_share produce the kvittering twice
    prefix_share   produce the kvittering with another namespace prefix, chosen from `prefixes`
                   ("" = default namespace with xmlns="" on the children) excluding the
                   original's own
    """

    reject_share: float = 0.0
    error_share: float = 0.0
    delay_share: float = 0.0
    max_delay_s: float = 0.0
    drop_share: float = 0.0
    duplicate_share: float = 0.0
    prefix_share: float = 0.0
    prefixes: tuple[str, ...] = ("ns2", "os", "oppdrag", "")

    def __post_init__(self) -> None:
        for name in (
            "reject_share",
            "error_share",
            "delay_share",
            "drop_share",
            "duplicate_share",
            "prefix_share",
        ):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {v}")
        if self.reject_share + self.error_share > 1.0:
            raise ValueError("reject_share + error_share must be <= 1")
        if self.max_delay_s < 0:
            raise ValueError("max_delay_s must be >= 0")


NO_FAULTS = Faults()


@dataclass(frozen=True, slots=True)
class Reply:
    """What the emulator answers to one Oppdrag."""

    kvitteringer: tuple[bytes, ...]  # 0, 1 or 2
    delay_s: float
    verdict: Verdict
    replay: bool  # True when the answer came from the seen map
    injected: bool  # True when the verdict is an injected 08/12


class OsEmulator:
    """Holds the ledger, the content-hash -> kvittering map and the seeded faults."""

    def __init__(
        self,
        faults: Faults = NO_FAULTS,
        seed: int = 0,
        schema: etree.XMLSchema | None = None,
    ) -> None:
        self.faults = faults
        self.seed = seed
        self._rng = random.Random(seed)
        self._schema = schema if schema is not None else _xml.default_schema()
        self.ledger: Ledger = EMPTY
        self.seen: dict[str, tuple[bytes, Verdict]] = {}
        self.log: list[Reply] = []

    # -- the receipt path ----------------------------------------------------------------------

    def handle(self, oppdrag_xml: bytes) -> list[bytes]:
        """0, 1 or 2 kvitteringer for one Oppdrag."""
        return list(self.respond(oppdrag_xml).kvitteringer)

    def respond(self, oppdrag_xml: bytes) -> Reply:
        f = self.faults
        # Always the same number of draws per call: reproducible whatever the branch.
        u_reject, u_delay, u_delay_len, u_drop, u_dup, u_prefix, u_prefix_pick = (self._rng.random() for _ in range(7))
        replay = injected = False
        root: etree._Element | None
        try:
            root = parsed = _xml.parse_document(oppdrag_xml)
        except _xml.Unparseable as e:
            verdict = technical("B999999T", f"Meldingen kan ikke leses som XML: {e}")
            body = _xml.minimal_kvittering(verdict)
            root = None
        else:
            body, verdict, replay, injected = self._answer(parsed, u_reject)

        delay = u_delay_len * f.max_delay_s if u_delay < f.delay_share else 0.0
        if u_prefix < f.prefix_share:
            original = root.prefix if root is not None else "ns2"
            choices = [p for p in f.prefixes if (p or None) != original]
            if choices:
                body = _xml.with_prefix(body, choices[int(u_prefix_pick * len(choices))])
        if u_drop < f.drop_share:
            out: tuple[bytes, ...] = ()
        elif u_dup < f.duplicate_share:
            out = (body, body)
        else:
            out = (body,)
        reply = Reply(out, delay, verdict, replay, injected)
        self.log.append(reply)
        return reply

    def _answer(self, root: etree._Element, u_reject: float) -> tuple[bytes, Verdict, bool, bool]:
        h = _xml.content_hash(root)
        if h in self.seen:
            body, verdict = self.seen[h]
            return body, verdict, True, False
        err = _xml.schema_errors(root, self._schema)
        if err is not None:
            verdict = rejected("B110009F", f"Skjemafeil: {err}")
            body = _xml.kvittering(root, verdict)
            self.seen[h] = (body, verdict)
            return body, verdict, False, False
        f = self.faults
        if u_reject < f.reject_share:
            return _xml.kvittering(root, FAULT_08), FAULT_08, False, True
        if u_reject < f.reject_share + f.error_share:
            return _xml.kvittering(root, FAULT_12), FAULT_12, False, True
        try:
            oppdrag = _xml.parse_oppdrag_element(root)
        except ValueError as e:
            verdict = rejected("B110008F", f"Ugyldig innhold: {e}")
        else:
            self.ledger, verdict = apply(self.ledger, oppdrag)
        body = _xml.kvittering(root, verdict)
        self.seen[h] = (body, verdict)
        return body, verdict, False, False

    # -- reading -------------------------------------------------------------------------------

    def paid(self, fagomraade: str, fagsystem_id: str) -> PaidMap:
        """kodeKlassifik -> day -> amount paid that day, for one sak."""
        return paid(self.ledger, fagomraade, fagsystem_id)

    def lines(self, fagomraade: str, fagsystem_id: str) -> tuple[LedgerLine, ...]:
        """The sak's booked lines in booking order, each with its `effective` range."""
        return _ledger.lines(self.ledger, fagomraade, fagsystem_id)

    def total(self, fagomraade: str, fagsystem_id: str) -> dict[str, _ledger.Amount]:
        """kodeKlassifik -> total amount paid (a Decimal where OS booked a sats with øre)."""
        return {k: sum(v.values(), 0) for k, v in self.paid(fagomraade, fagsystem_id).items()}

    def simulate(self, oppdrag_xml: bytes) -> Simulation:
        """What the Oppdrag would do to its sak; books nothing, remembers nothing, no faults.
        Bytes that are not XML raise `Unparseable`; anything else gets a verdict."""
        root = _xml.parse_document(oppdrag_xml)
        return self._simulate(root, self._schema, _xml.parse_oppdrag_element, "oppdrag-110")

    def simulate_request(self, simulering_xml: bytes) -> Simulation:
        """OS's simulation service: a `simulerBeregningRequest` against the ledger as it is now.
        Books nothing, remembers nothing, no faults. Bytes that are not XML raise `Unparseable`."""
        root = _xml.parse_document(simulering_xml)
        return self._simulate(root, _xml.simulering_schema(), _xml.parse_simulering_element, "oppdrag")

    def _simulate(
        self,
        root: etree._Element,
        schema: etree.XMLSchema,
        parse: Callable[[etree._Element], Oppdrag],
        container: str,
    ) -> Simulation:
        """A schema error or a value the emulator cannot read is an 08, with what the sak is
        paid now as both before and after (as `respond` would answer)."""
        err = _xml.schema_errors(root, schema)
        verdict = rejected("B110009F", f"Skjemafeil: {err}") if err is not None else None
        try:
            oppdrag = parse(root)
        except ValueError as e:
            verdict = verdict or rejected("B110008F", f"Ugyldig innhold: {e}")
            oppdrag = Oppdrag(None, *_xml.sak_key_of(root, container))
        if verdict is not None:
            before = paid(self.ledger, *oppdrag.sak_key)
            return Simulation(verdict, before, before)
        return simulate(self.ledger, oppdrag)
