"""The entry point Bytewax loads: `python -m bytewax.run "dataflows.helved_flow:get_flow()"`
(settings from the environment, see `helved.config`), and waxctl's `dataflow deploy`.

The flow itself is `helved.flow` (the wiring in `helved/flow/wiring.py`); this module only
re-exports it, so `dataflows` imports `helved` and never the other way round.
"""

from __future__ import annotations

from helved.flow import (
    FLOW_ID,
    IntakeLink,
    Restored,
    SakLogic,
    build_flow,
    get_flow,
    wire,
)

__all__ = ["FLOW_ID", "IntakeLink", "Restored", "SakLogic", "build_flow", "get_flow", "wire"]
