"""Proof: OS pays exactly what the last accepted decision asked for (spec §3-§5, §7, §8).

Random histories of dagpenger decisions for one to three saker go through the real dataflow
(`helved.replay.replay_records`), OS played by the emulator with random outcomes: the emulator's
own fault injection (08/12, duplicate and re-prefixed kvitteringer), 08/12 forced on chosen
Oppdrag, 04 (accepted with a warning), kvitteringer held back so that later decisions of a sak
must wait (§5.2), and stale redeliveries of kvitteringer (§7).

Under the "ci" profile (tests/property/conftest.py) the five tests run 200+100+100+50+50
examples, derandomized: about 6 s. HYPOTHESIS_PROFILE=long: 25 times as many, about 2.5 min.
`tests.property.oracle.check` states exactly what is checked after every step. A failure prints
the history, the Oppdrag and their answers, and a JSONL file for `helved replay`.
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, note
from hypothesis import strategies as st

from .oracle import Plan, check, run
from .profile import for_test
from .strategies import RESEND_SAME_TIMESTAMP, build, decision_specs, plans


def _prove(specs, plan: Plan) -> None:
    decisions = build(specs)
    note(f"OS: {plan.describe()}")
    for i, d in enumerate(decisions):
        note(
            f"#{i} {d.key}{'' if d.valid else ' [invalid: ' + str(d.why_invalid) + ']'}: {len(d.message['utbetalinger'])} days"
        )
    check(run(decisions, plan))


@for_test(weight=2.0)
@given(specs=decision_specs(n_saker=3, max_decisions=8), plan=plans())
def test_os_pays_the_last_accepted_decision(specs, plan):
    """Several saker, invalid decisions, every kind of receipt outcome, waiting requests."""
    _prove(specs, plan)


@for_test(weight=1.0)
@given(specs=decision_specs(n_saker=1, max_decisions=10, invalid=False))
def test_one_sak_every_receipt_ok(specs):
    """One sak, longer histories, OS accepts everything: the diff rules alone (§5.3, §5.4)."""
    _prove(specs, Plan())


@for_test(weight=1.0)
@given(specs=decision_specs(n_saker=1, max_decisions=6, invalid=False, n_mp=2, reshape=True))
def test_one_sak_reshaped_meldeperioder(specs):
    """One sak, two meldeperioder reshaped again and again (several periods, cut, trimmed, gaps,
    stopped, back): the update and opphør rules of §5.4, OS accepting everything."""
    _prove(specs, Plan())


@for_test(weight=0.5)
@given(specs=decision_specs(n_saker=2, max_decisions=8, invalid=False), data=st.data())
def test_rejected_changes_leave_the_previous_decision_in_force(specs, data):
    """A random set of Oppdrag is rejected 08/12 (or accepted with a warning, 04): a rejected
    change leaves the previous decision in force, the next change is diffed against it."""
    decisions = build(specs)
    codes = data.draw(
        st.lists(st.sampled_from(("08", "12", "04", None)), min_size=len(decisions), max_size=len(decisions))
    )
    forced = {i: c for i, c in enumerate(codes) if c is not None}
    plan = Plan(forced_idx=forced)
    note(f"OS: {plan.describe()}")
    check(run(decisions, plan))


@for_test(weight=0.5)
@given(specs=decision_specs(n_saker=2, max_decisions=6, invalid=False, reshape=True, n_mp=2), data=st.data())
def test_rejected_then_resent_with_stale_redeliveries(specs, data):
    """The sender's retry: a decision whose Oppdrag OS rejects (08/12) is sent again at once with
    the same behandlingId, while the rejected Oppdrag's kvittering is redelivered late (just
    before the resend's own). A stale kvittering must never be taken for the resend's (§7)."""
    decisions = build(specs)
    flags = data.draw(st.lists(st.sampled_from((None, "08", "12")), min_size=len(decisions), max_size=len(decisions)))
    out, forced, late = [], {}, set()
    for d, code in zip(decisions, flags, strict=True):
        out.append(d)
        if code is not None:
            forced[d.key] = code
            late.add(d.key)
            ts = d.ts if RESEND_SAME_TIMESTAMP else d.ts + 1_000
            out.append(replace(d, key=d.key + "-resend", ts=ts))
    plan = Plan(forced_key=forced, late_duplicate_keys=frozenset(late))
    note(f"OS: {plan.describe()}")
    check(run(out, plan))
