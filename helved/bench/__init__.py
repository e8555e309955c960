"""`helved bench`: throughput, state size and cost growth, measured against the per-message floor.

- `traffic`    seeded, realistic dagpenger traffic (the whole sak in every message);
- `floor`      parse + diff + Oppdrag XML per request, no dataflow: the cost the pipeline
               cannot go below;
- `inprocess`  the real dataflow in-process with recovery on and OS answering every Oppdrag
               before the sak's next request;
- `broker`     end to end over the broker with `helved run` and the OS bridge;
- `run`        the sections and their figures; `report` the text table.

Nothing here asserts a time: the figures are reported, `BENCHMARKS.md` holds the latest ones.
"""

from .run import SMOKE, Bench, BenchConfig

__all__ = ["SMOKE", "Bench", "BenchConfig"]
