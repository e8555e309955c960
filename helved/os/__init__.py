"""OS (Oppdragssystemet) behind one port: the values and the modules that speak to it.

    helved.os.port              OsGateway and its values: Verdict, SimulationAnswer,
                                AvstemmingAnswer, PaidMap (standard library only)
    helved.os.bridge            the OS bridge: helved.oppdrag.v1 / helved.simuleringer.v1 /
                                helved.avstemming.v1 -> OS once -> statuses and kvitteringer
    helved.os.dryrun            the dryrun answer: OS's simulation -> helved.dryrun-*.v1
    helved.os.avstemming_relay  an avstemming id's messages -> OS once, at its AVSL
    helved.os.payments          what OS pays, as rows (`helved sak`, the demo)

Dependencies point inward: these modules import the port, never an adapter. The adapters live
with what they adapt: `helved.emulator.gateway` (the OS emulator, for development and tests);
an MQ adapter later. `tests/unit/test_import_rules.py` holds that production code never
imports `helved.emulator`.

Only the port is imported here; the bridge (Kafka) and the dryrun answer are imported by name.
"""

from helved.os.port import (
    NOT_XML,
    AvstemmingAnswer,
    OsGateway,
    PaidMap,
    SimulationAnswer,
    Verdict,
    technical,
)

__all__ = [
    "NOT_XML",
    "AvstemmingAnswer",
    "OsGateway",
    "PaidMap",
    "SimulationAnswer",
    "Verdict",
    "technical",
]
