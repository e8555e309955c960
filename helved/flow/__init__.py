"""The flow: helved's Bytewax dataflow and the stages it runs.

    intake.py   a record -> (sak key, Event), or answered at once (FEILET, DLQ)
    apply.py    a sak's state and one Event -> its new state and the records to produce
    encode.py   the domain's outputs -> records: one `match` over the output union (metrics)
    wiring.py   the operators, one a line: `build_flow` (in-process), `get_flow` (Kafka)
    driver.py   the closed loop in-process, OS answering: replay, bench and tests
    config.py, events.py   what the stages share, and the items between them

`dataflows/helved_flow.py` is the entry point `python -m bytewax.run` and waxctl load; it only
re-exports `get_flow` and `build_flow` from here.
"""

from helved.flow.config import FlowConfig
from helved.flow.wiring import (
    FLOW_ID,
    IntakeLink,
    Restored,
    SakLogic,
    build_flow,
    get_flow,
    wire,
)

__all__ = ["FLOW_ID", "FlowConfig", "IntakeLink", "Restored", "SakLogic", "build_flow", "get_flow", "wire"]
