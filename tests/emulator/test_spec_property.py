"""domain.md §5.3/§5.4 as written, checked against the emulator's OS semantics.

The rule text of §5.4 (first differing index `i`, the "only tom shorter" exception, the opphør
date, "an opphør line is sent iff ... no new line starts on or before D") and §5.3 (create, stop,
re-create on the chain tail) are implemented here from the prose, independently of helved. For
random histories of one utbetaling the lines they produce are booked in the emulator, and what is
paid must equal the new periods, day by day (DAG7, so every day counts).

Reading of one ambiguous phrase: "Trailing periods removed" is taken as the case "no difference
and new shorter" (i == len(new)), parallel to "no difference and new longer". Read as "new has
fewer periods" in general, it would take precedence over the `new[i].tom < prev[i].tom` rule and
the table would fail (see test_trailing_removed_must_mean_no_difference).
"""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from helved.emulator import EMPTY, Oppdrag, OppdragLinje, apply, paid

from .fixtures import expected_paid

START = date(2024, 6, 1)
Period = tuple[date, date, int]


def period_lists():
    seg = st.tuples(st.integers(0, 4), st.integers(1, 9), st.sampled_from([100, 200, 300]))

    def build(start: int, segs) -> list[Period]:
        out, d = [], START + timedelta(days=start)
        for gap, length, b in segs:
            fom = d + timedelta(days=gap)
            tom = fom + timedelta(days=length - 1)
            out.append((fom, tom, b))
            d = tom + timedelta(days=1)
        return out

    return st.builds(build, st.integers(0, 6), st.lists(seg, min_size=0, max_size=4))


class Utbetaling:
    """helved's side per §5.1/5.3/5.4: confirmed periods, chain tail, and the line builder."""

    def __init__(self, trailing_means_fewer: bool = False) -> None:
        self.prev: list[Period] = []
        self.stopped = False
        self.tail: tuple[str, Period] | None = None
        self.n = 0
        self.trailing_means_fewer = trailing_means_fewer

    def _id(self) -> str:
        self.n += 1
        return f"L{self.n}"

    def _ny(self, periods: list[Period], ref: str | None) -> list[OppdragLinje]:
        out = []
        for p in periods:
            did = self._id()
            out.append(OppdragLinje("NY", "K", p[0], p[1], p[2], "DAG7", delytelse_id=did, ref_delytelse_id=ref))
            ref = did
            self.tail = (did, p)
        return out

    def _opph(self, d: date) -> OppdragLinje:
        did, (fom, tom, b) = self.tail
        return OppdragLinje(
            "ENDR",
            "K",
            fom,
            tom,
            b,
            "DAG7",
            delytelse_id=did,
            kode_status_linje="OPPH",
            dato_status_fom=d,
        )

    def lines_for(self, new: list[Period]) -> list[OppdragLinje]:
        prev = self.prev
        if self.tail is None:  # never sent
            return self._ny(new, None)
        if self.stopped:
            return self._ny(new, self.tail[0]) if new else []
        if not new:  # stop
            return [self._opph(prev[0][0])]
        if new == prev:
            return []
        i = next(
            (k for k in range(min(len(prev), len(new))) if prev[k] != new[k]),
            min(len(prev), len(new)),
        )
        only_tom_shorter = (
            i < len(prev)
            and i < len(new)
            and prev[i][0] == new[i][0]
            and prev[i][2] == new[i][2]
            and new[i][1] < prev[i][1]
        )
        if i == len(new):
            new_periods = []
        elif only_tom_shorter:
            new_periods = new[i + 1 :]
        else:
            new_periods = new[i:]
        one = timedelta(days=1)
        if i == len(prev):
            d = None
        elif i == len(new) or (self.trailing_means_fewer and len(new) < len(prev)):
            d = new[-1][1] + one
        elif prev[i][0] < new[i][0]:
            d = prev[i][0]
        elif new[i][1] < prev[i][1]:
            d = new[i][1] + one
        else:
            d = None
        out = []
        if d is not None and not (new_periods and new_periods[0][0] <= d):
            out.append(self._opph(d))
        out += self._ny(new_periods, self.tail[0])
        return out

    def confirm(self, new: list[Period]) -> None:
        if new:
            self.prev, self.stopped = new, False
        elif self.prev:
            self.stopped = True


def run_history(history: list[list[Period]], trailing_means_fewer: bool = False) -> list[str]:
    """Book the history; return the states (as text) where the emulator disagrees."""
    led, sak_known, u, bad = EMPTY, False, Utbetaling(trailing_means_fewer), []
    for new in history:
        lines = u.lines_for(new)
        if lines:
            o = Oppdrag("ENDR" if sak_known else "NY", "DP", "S", tuple(lines))
            led, v = apply(led, o)
            assert v.accepted, v
            sak_known = True
            u.confirm(new)
        want = expected_paid(new, "DAG7")
        got = paid(led, "DP", "S").get("K", {})
        if got != want:
            bad.append(f"{history} at {new}: lines {lines}")
    return bad


@settings(max_examples=400, deadline=None)
@given(st.lists(period_lists(), min_size=1, max_size=5))
def test_rule_text_of_5_3_and_5_4_achieves_every_new_state(history) -> None:
    assert run_history(history) == []


def test_trailing_removed_must_mean_no_difference() -> None:
    d = lambda n: START + timedelta(days=n - 1)  # noqa: E731
    prev = [(d(1), d(14), 100), (d(15), d(21), 200), (d(22), d(28), 300)]
    new = [(d(1), d(10), 100), (d(20), d(21), 200)]
    assert run_history([prev, new]) == []
    assert run_history([prev, new], trailing_means_fewer=True) != []
