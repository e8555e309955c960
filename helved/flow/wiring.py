"""The helved dataflow: Bytewax operators, one a line, over the stage functions of this package.

    in ──► intake (flat_map) ──► to-intake ──► intake-out ══ helved.intake.v1 ══╗
             │  (sak key, Event)                      (keyed by sak: one durable order per sak)
             │                                                                   ║
             │                          intake-in ◄══════════════════════════════╝
             │                              └─► read-intake ──► sak (stateful, keyed by sak) ─┐
             └─ unanswerable records (FEILET + DLQ, DLQ) ─────────────────────────────────────┴► out

The intake stage (`intake.intake`) routes each input (requests, receipts) to its sak and writes
it to the intake topic; the sak step (`apply.apply`) reads that topic. After any crash the sak
step reads its events again in the order they were first written, so it applies a sak's requests
in one order whatever partitions the sender used (spec §11); the intake stage's own replays are
dropped by provenance (`SakState.applied`). In-process (`build_flow` without a link: `helved
replay`, benchmarks, tests) the intake stage feeds the sak step directly.

Step ids are part of Bytewax's recovery key: never rename `sak`, `in` or `intake-in`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

import bytewax.operators as op
from bytewax.dataflow import Dataflow, Stream
from bytewax.inputs import Source
from bytewax.operators import StatefulLogic
from bytewax.outputs import Sink

from helved.config import Settings, Topics
from helved.domain.sak import SakState
from helved.metrics import METRICS
from helved.records import InRecord, OutRecord

from .apply import apply
from .config import FlowConfig
from .events import Event, Routed
from .housekeeping import HOUSEKEEPING, SakSnapshot
from .intake import from_intake, intake, to_intake

FLOW_ID = "helved"


class SakLogic(StatefulLogic[Event, OutRecord, SakState | SakSnapshot]):
    """The keyed state of one sak, driven by `apply`.

    The state is an immutable value that transitions replace, never mutate, so a snapshot can
    hold it as it is: no deep copy (the stock `stateful_flat_map` deep-copies on every
    snapshot). A sak the recovery snapshot does not hold starts from its changelog state when
    there is one (`restored`: a lost recovery volume, spec §12).

    With a large state the process's garbage collection and memory need care: `HOUSEKEEPING`
    (`helved.flow.housekeeping`) is told of every restored sak (the snapshot unpickles through
    it), of the restore's end and of every event.
    """

    def __init__(
        self,
        apply: Callable[[SakState | None, Event], tuple[SakState | None, list[OutRecord]]],
        state: SakState | SakSnapshot | None,
        restored: Restored | None = None,
    ) -> None:
        if isinstance(state, SakSnapshot):  # never from Bytewax: it unpickles to the state
            state = state.state
        self._apply = apply
        self._state = state
        self._restored = restored
        if state is not None:  # built from a snapshot: Bytewax has unpickled them all
            if restored is not None:  # its changelog state is never needed: drop it
                restored.discard(state.sak_key.as_json_text())
            HOUSEKEEPING.restore_over()
            if state.in_flight is not None:  # resumed awaiting a receipt
                METRICS.resumed(state.sak_key.as_json_text())

    def on_item(self, value: Event) -> tuple[list[OutRecord], bool]:
        HOUSEKEEPING.tick()
        if self._state is None and self._restored is not None:
            self._state = self._restored.take(value.sak_key)
        self._state, out = self._apply(self._state, value)
        return out, (StatefulLogic.DISCARD if self._state is None else StatefulLogic.RETAIN)

    def snapshot(self) -> SakSnapshot:
        assert self._state is not None
        return SakSnapshot(self._state)


class Restored(Protocol):
    """Sak states from the changelog topic, for saker the recovery snapshot does not hold."""

    def take(self, sak_key: str) -> SakState | None: ...

    def discard(self, sak_key: str) -> None: ...


@dataclass(frozen=True)
class IntakeLink:
    """The intake topic between the intake stage and the sak step: `sink` writes a sak's
    events (keyed by sak, so one partition holds each sak's events in one durable order) and
    `read(step_id, flow)` reads them back. Without one (`helved replay`, benchmarks: one
    in-process source, nothing to reorder) the intake stage feeds the sak step directly."""

    sink: Sink[OutRecord]
    read: Callable[[str, Dataflow], Stream[InRecord]]


@dataclass(frozen=True)
class Routes:
    """The two kinds of item a routing step yields."""

    keyed: Stream[tuple[str, Event]]
    done: Stream[OutRecord]


def route(step_id: str, up: Stream[Routed]) -> Routes:
    """Split the intake stage's items into a sak's events and records answered at once."""
    b = op.branch(step_id, up, lambda item: isinstance(item, tuple))
    return Routes(keyed=b.trues, done=b.falses)  # type: ignore[arg-type]


def wire(
    flow: Dataflow,
    records: Stream[InRecord],
    sink: Sink[OutRecord],
    topics: Topics,
    *,
    link: IntakeLink | None = None,
    restored: Restored | None = None,
    changelog: bool = False,
) -> None:
    """The stages of helved between a stream of input records and a sink of output records."""
    config = FlowConfig(topics, changelog)
    step = partial(apply, config)
    routed = op.flat_map("intake", records, partial(intake, config))  # (sak key, Event) | OutRecord
    first = route("routed", routed)  # keyed: (sak key, Event); done: OutRecord (FEILET + DLQ, DLQ)
    events, answered = first.keyed, [first.done]
    if link is not None:
        written = op.map("to-intake", first.keyed, partial(to_intake, topics))  # OutRecord, intake topic
        op.output("intake-out", written, link.sink)
        read = link.read("intake-in", flow)  # InRecord of the intake topic
        reread = op.flat_map("read-intake", read, partial(from_intake, config))  # (sak key, Event) | OutRecord
        second = route("from-intake", reread)  # keyed: in the intake topic's order; done: OutRecord (DLQ)
        events, answered = second.keyed, [*answered, second.done]
    sak = op.stateful("sak", events, lambda resume: SakLogic(step, resume, restored))  # (sak key, OutRecord)
    unkeyed = op.key_rm("unkey", sak)  # OutRecord
    outputs = op.merge("outputs", *answered, unkeyed)  # OutRecord
    op.output("out", outputs, sink)


def build_flow(
    source: Source[InRecord],
    sink: Sink[OutRecord],
    topics: Topics,
    *,
    link: IntakeLink | None = None,
    restored: Restored | None = None,
    changelog: bool = False,
) -> Dataflow:
    """The whole flow over an in-process source (`helved replay`, tests, `helved simulate`)."""
    flow = Dataflow(FLOW_ID)
    records = op.input("in", flow, source)  # InRecord
    wire(flow, records, sink, topics, link=link, restored=restored, changelog=changelog)
    return flow


def get_flow(settings: Settings | None = None, *, restored: Restored | None = None, **overrides: Any) -> Dataflow:
    """The production flow: Kafka in, Kafka out, settings from the environment. The intake
    topic orders each sak's requests and receipts durably; every sak's state is written to the
    changelog topic. Without `restored` (started by `python -m bytewax.run` or waxctl rather than
    `helved run`) it reads the changelog itself, so a sak the recovery snapshot lacks never
    starts from nothing. Outputs go out in phases: Oppdrag and simulations only once the
    statuses are acknowledged, the changelog last (`KafkaOutSink`)."""
    from helved.kafka.io import KafkaOutSink, kafka_input

    settings = settings or Settings.from_env()
    if restored is None:
        from helved.startup import restore_states

        restored = restore_states(settings, new_recovery_dir=False)
    topics = settings.topics
    flow = Dataflow(FLOW_ID)
    records = kafka_input("in", flow, settings, [*topics.inputs(), topics.kvittering], **overrides)  # InRecord
    link = IntakeLink(
        sink=KafkaOutSink(settings),
        read=lambda step_id, f: kafka_input(step_id, f, settings, [topics.intake], **overrides),
    )
    sink = KafkaOutSink(settings, later=((topics.oppdrag, topics.simuleringer), (topics.sak_state,)))
    wire(flow, records, sink, topics, link=link, restored=restored, changelog=True)
    return flow
