"""Garbage collection and memory with a large state (issue 18: "a year of saker in one process"),
driven by the sak step (`helved.flow.wiring.SakLogic`).

Every sak's state lives in the process for as long as the sak exists: 100,000 saker of 20
utbetalinger are ~9.5 million objects the garbage collector tracks, and a full (generation 2)
collection walks every one of them: 3.8 s measured, a pause of the whole pipeline; while Bytewax
restored them from a snapshot, 18 collections took 13.5 s of the 47 s (`helved bench`, scale
section). The state is frozen values that make no reference cycles, so no collection can ever
free any of it. So it is **frozen** (`gc.freeze`: every object so far moves to a generation no
collection walks):

- while Bytewax restores saker (it unpickles every sak's snapshot first, then builds their
  logics), every `restored_every` saker (`from_snapshot`, which the unpickler calls);
- when the restore is over (the first logic built from a snapshot, or else the first event),
  after collecting what is not frozen yet (only what came since the last freeze);
- then every `events_every` events, after collecting the young generations (what other parts
  of the process left in a reference cycle is collected, not frozen; the bench's running
  saker left none at all): a collection then never walks more than what the last events made.

A frozen object that is dropped is still freed at once by reference counting; only a reference
cycle among frozen objects would be kept, and the state makes none.

When the restore is over it also **trims**: the snapshot rows Bytewax read (3-6 KiB a sak) were
freed between the objects made of them, and the C allocator keeps such holes in its heap;
`malloc_trim` (glibc) hands them back to the system.

The one hook helved has while Bytewax restores is the unpickling itself: the sak step hands
Bytewax a `SakSnapshot`, which pickles as `from_snapshot(state)`. A snapshot written before
(the state pickled as it is) still loads, without the hook.
"""

from __future__ import annotations

import ctypes
import gc
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TypeVar

from helved.domain.model import SharedValues
from helved.domain.sak import SakState

T = TypeVar("T")


class Housekeeping:
    """The process's freezes and trim (see the module). Shared by the worker threads of a
    process: the counters are hints (a lost increment only moves a freeze); `gc.freeze`,
    `gc.collect` and `malloc_trim` are safe from any thread. `freeze` and `trim` switch each
    part off (the bench measures what they buy)."""

    def __init__(self, restored_every: int = 100, events_every: int = 1_000) -> None:
        self.freeze = True
        self.trim = True
        self.restored_every = restored_every
        self.events_every = events_every
        self.restored = 0  # saker restored since the last freeze
        self.restored_total = 0  # saker restored from snapshots by this process
        self.events = 0  # events since the last freeze
        self.restoring = False  # saker were restored and the restore is not over yet
        self.freezes = 0
        self.trims = 0
        self.restore_end_ms = 0.0  # the collection, freeze and trim when the restore was over

    def on_restored(self) -> None:
        """A sak's state was unpickled from a snapshot."""
        self.restored += 1
        self.restored_total += 1
        self.restoring = True
        if self.restored >= self.restored_every:
            self.restored = 0
            if self.freeze:  # all alive: nothing to collect first
                gc.freeze()
                self.freezes += 1

    def restore_over(self) -> None:
        """A logic was built from a restored state: Bytewax has unpickled every snapshot."""
        if not self.restoring:
            return
        self.restoring = False
        started = time.perf_counter()  # how long the pause took, for the bench; no data depends on it
        self._collect_and_freeze(2)
        if self.trim and malloc_trim():
            self.trims += 1
        self.restore_end_ms = (time.perf_counter() - started) * 1e3

    def tick(self) -> None:
        """An event reaches the sak step."""
        self.events += 1
        if self.restoring:
            self.restore_over()
        elif self.events >= self.events_every:
            self._collect_and_freeze(1)

    def _collect_and_freeze(self, generation: int) -> None:
        self.events = self.restored = 0
        if self.freeze:
            gc.collect(generation)
            gc.freeze()
            self.freezes += 1


def malloc_trim() -> bool:
    """glibc's `malloc_trim(0)`: free heap memory back to the system. False without glibc."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        return False
    return True


HOUSEKEEPING = Housekeeping()


class SakSnapshot:
    """What the sak step gives Bytewax to snapshot: the state, pickled so that unpickling it
    gives the state back through `from_snapshot`."""

    __slots__ = ("state",)

    def __init__(self, state: SakState) -> None:
        self.state = state

    def __reduce__(self) -> tuple[Callable[[SakState], SakState], tuple[SakState]]:
        return (from_snapshot, (self.state,))


# Values every sak's state holds alike, one object for all restored saker: the input partitions
# of `applied` ((topic, partition) pairs) and the fagområder of `accepted`. Unpickled, each sak
# has its own: ~500 bytes a sak (measured on the bench's saker of 20 utbetalinger). Equal
# values, shared objects.
_shared = SharedValues(4096)


def from_snapshot(state: SakState) -> SakState:
    """A sak's state as it comes out of a snapshot (called by the unpickler; snapshots name this
    function: never rename or move it)."""
    HOUSEKEEPING.on_restored()
    return replace(
        state,
        applied={_shared(partition): offset for partition, offset in state.applied.items()},
        accepted=_shared(state.accepted),
    )
