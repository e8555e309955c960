"""The helved dataflow: Bytewax operators wired to the pure functions of `helved.pipeline`.

    in ──► route ─┬─ dagpenger ──► split (flat_map) ──────┐
                  └─ kvittering ─► kvittering (flat_map) ─┴► join ─► keyed ─► sak (stateful) ─┐
                     rejected / unreadable records (FEILET + DLQ) ─────────────────────────────┴► out

Run against Kafka with `python -m bytewax.run "dataflows.helved_flow:get_flow()"` (settings from
the environment, see `helved.config`), or in-process through `build_flow` (`helved replay`,
tests). Step ids are part of Bytewax's recovery key: never rename `sak`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Dataflow, Stream
from bytewax.inputs import Source
from bytewax.operators import StatefulLogic
from bytewax.outputs import Sink

from helved.config import Settings, Topics
from helved.domain.sak import SakState
from helved.pipeline import Event, Pipeline, Routed
from helved.records import InRecord, OutRecord

FLOW_ID = "helved"


class SakLogic(StatefulLogic[Event, OutRecord, SakState]):
    """The keyed state of one sak, driven by `Pipeline.apply`.

    The state is an immutable value that transitions replace, never mutate, so a snapshot can
    return it as it is: no deep copy (the stock `stateful_flat_map` deep-copies on every
    snapshot).
    """

    def __init__(self, apply: Callable[[SakState | None, Event], tuple[SakState | None, list[OutRecord]]], state: SakState | None) -> None:
        self._apply = apply
        self._state = state

    def on_item(self, value: Event) -> tuple[list[OutRecord], bool]:
        self._state, out = self._apply(self._state, value)
        return out, (StatefulLogic.DISCARD if self._state is None else StatefulLogic.RETAIN)

    def snapshot(self) -> SakState:
        assert self._state is not None
        return self._state


@dataclass(frozen=True)
class Routes:
    """The two kinds of item a routing step yields."""

    keyed: Stream[tuple[str, Event]]
    done: Stream[OutRecord]


def _route(step_id: str, up: Stream[Routed]) -> Routes:
    b = op.branch(step_id, up, lambda item: isinstance(item, tuple))
    return Routes(keyed=b.trues, done=b.falses)  # type: ignore[arg-type]


def wire(records: Stream[InRecord], sink: Sink[OutRecord], topics: Topics) -> None:
    """The stages of helved between a stream of input records and a sink of output records."""
    pipe = Pipeline(topics)
    by_topic = op.branch("route", records, lambda r: r.topic == topics.kvittering)
    requests = _route("requests", op.flat_map("split", by_topic.falses, pipe.split))  # (sak key, RequestEvent)
    receipts = _route("receipts", op.flat_map("kvittering", by_topic.trues, pipe.kvittering))  # (sak key, ReceiptEvent)
    joined = op.merge("join", requests.keyed, receipts.keyed)  # (sak key, Event)
    sak = op.stateful("sak", joined, lambda resume: SakLogic(pipe.apply, resume))  # (sak key, OutRecord)
    outputs = op.merge("outputs", requests.done, receipts.done, op.key_rm("unkey", sak))  # OutRecord
    op.output("out", outputs, sink)


def build_flow(source: Source[InRecord], sink: Sink[OutRecord], topics: Topics) -> Dataflow:
    """The whole pipeline over an in-process source (`helved replay`, tests)."""
    flow = Dataflow(FLOW_ID)
    wire(op.input("in", flow, source), sink, topics)
    return flow


def get_flow(settings: Settings | None = None, **overrides: Any) -> Dataflow:
    """The production flow: Kafka in, Kafka out, settings from the environment."""
    from dataflows.kafka_io import KafkaOutSink, kafka_input

    settings = settings or Settings.from_env()
    topics = settings.topics
    flow = Dataflow(FLOW_ID)
    records = kafka_input("in", flow, settings, [topics.dagpenger, topics.kvittering], **overrides)
    wire(records, KafkaOutSink(settings), topics)
    return flow
