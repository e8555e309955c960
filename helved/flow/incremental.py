"""The incremental reader of dagpenger's requests: the intake stage's fast path (issue 18).

Dagpenger resends the whole sak every time, so nearly every day of a message was in the sak's
previous message too, byte for byte. `parse_raw` keeps, per sak, the last message's runs of
days (a run: the consecutive days of one meldeperiode and utbetalingstype, as JSON text) with
what each run became, finds those runs again in the new message's bytes, and decodes, checks,
merges and identifies only the rest. A request to a sak with 100 meldeperioder of which one
changed then costs little more than one with 10.

It gives what `parse_request(orjson.loads(raw))` gives, or None, and then the caller takes that
full path (which also reports the first broken rule of a message that breaks one):

- Each block of runs found (runs that follow each other in the sak's last message, found byte
  for byte one after the other, commas between) is replaced in the bytes by a marker, the JSON
  number -(BASE + i), before the rest is decoded. A block's text is a comma-separated list of
  complete JSON objects (orjson encoded each run from decoded days, and decoding it gives those
  days back), so where the marker is decoded as one element of the message's `utbetalinger`
  list, the block's text decodes to its days at that place: the parser is in the same state
  after either. The marker digits must occur exactly once per marker in the new text (so each
  marker's number can only come from where it was put), and every marker must come back as an
  element of that list, else None.
- A run stands for its group only when no other day of the message has its meldeperiode and
  utbetalingstype; its days, and so its periods, uid and checks, are then exactly those of the
  message it was kept from (keyed by sakId, checked against the decoded one). The days decoded
  now are read and checked as `parse_request` reads them.
- `check_paid_days` spans groups (one date paid twice in two meldeperioder): the new groups are
  checked among themselves, and a new group's first-to-last paid days may overlap neither
  another new group's nor a found run's of the same utbetalingstype, else None. The found runs
  passed together in the message they were kept from, so no two of them pay one day (and their
  spans, kept sorted, never overlap: that is what lets a new group be checked by bisection).
- Anything unusual (a rule broken, a marker not where it was put, a sender that encodes its days
  otherwise: then no run is ever found) is None, or a message decoded in full.

The memo is process memory (shared by a process's worker threads), bounded by
`HELVED_DP_MEMO_MB` (default 64 MiB of memory: the runs' text and what each became; least recently
parsed saker dropped first).
It is a cache: what it holds decides how fast a request is read, never what it is read as.
"""

from __future__ import annotations

import os
import threading
from bisect import bisect_right, insort
from dataclasses import dataclass
from datetime import date, datetime
from itertools import accumulate, groupby, pairwise
from operator import itemgetter
from typing import Any

import orjson

from helved.domain.model import Request, Source
from helved.fagsystemer import dagpenger as dp

_MARKER_BASE = 8_418_529_130_000_000_000  # marker i: -(BASE + i), 20 characters for i < 10**9
_MARKER_DIGITS = b"8418529130"
_SEARCH_SLACK = 16 * 1024  # how far past where it was expected a run is looked for
_MISSES = 16  # runs not found before the rest of the sak's runs are not looked for
_STRIDE = 8  # runs compared at once when a block is extended
# Bytes a run costs in memory beyond its text (for the memo's budget): its key, length, span and
# what its days became (periods, uid). Measured on the bench's traffic: 935 (2,336 saker of 20
# runs took 99 MiB for a budget of 64 MiB counted at 200).
_RUN_OVERHEAD = 950
_MP_TYP = itemgetter("meldeperiode", "utbetalingstype")


@dataclass(frozen=True, slots=True, eq=False)
class _Memo:
    """The runs of a sak's last message (a run: consecutive days of one meldeperiode and
    utbetalingstype), in the message's order, each as its days' JSON text (orjson's encoding
    of them) and what its paid days became."""

    sak_id: str
    text: bytes  # the runs' texts joined by commas
    keys: tuple[tuple[str, str], ...]  # per run: (meldeperiode, utbetalingstype)
    lens: tuple[int, ...]  # per run: the length of its text
    paids: tuple[dp.Paid | None, ...]  # per run: what its paid days become, None when none are paid
    index: dict[tuple[str, str], int]  # key -> the run's position
    # per utbetalingstype: (first paid day, last paid day, key) of the runs that pay, sorted;
    # never overlapping (the message passed the full path's checks, see the module docstring)
    spans: dict[str, list[tuple[date, date, tuple[str, str]]]]
    size: int


class Memo:
    """The runs of the last message of each sak, least recently parsed dropped first when the
    texts kept exceed `budget` bytes. Shared by the threads of a process (workers). `found` and
    `decoded` count the runs found in messages' bytes and the days decoded (for the bench)."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.size = 0
        self.found = 0
        self.decoded = 0
        self._saker: dict[bytes, _Memo] = {}
        self._lock = threading.Lock()

    def get(self, key: bytes) -> _Memo | None:
        return self._saker.get(key)

    def put(self, key: bytes, memo: _Memo) -> None:
        with self._lock:
            old = self._saker.pop(key, None)
            if old is not None:
                self.size -= old.size
            if memo.size > self.budget:
                return
            self._saker[key] = memo
            self.size += memo.size
            while self.size > self.budget:
                self.size -= self._saker.pop(next(iter(self._saker))).size

    def clear(self) -> None:
        with self._lock:
            self._saker.clear()
            self.size = 0

    def __len__(self) -> int:
        return len(self._saker)


MEMO = Memo(int(os.environ.get("HELVED_DP_MEMO_MB", "64")) * 1024 * 1024)


def parse_raw(
    raw: bytes,
    *,
    original_key: str | None,
    avstemming: datetime | None = None,
    source: Source | None = None,
    memo: Memo | None = None,
) -> Request | None:
    """`parse_request(orjson.loads(raw), ...)` for a message that breaks no rule, reading only
    what changed since the sak's previous message; None for anything else (a broken rule, a
    message the memo cannot vouch for): then take that full path."""
    try:
        return _parse_raw(raw, original_key, avstemming, source, MEMO if memo is None else memo)
    except Exception:  # a broken rule, or anything unexpected: the full path decides
        return None


# Readers of a record's bytes, per fagsystem, for the intake stage (`helved.flow.intake`).
RAW_PARSERS = {dp.FAGSYSTEM: parse_raw}


def _sak_id_text(raw: bytes) -> bytes | None:
    """Where the memo keeps the sak: the bytes after the first `"sakId":"` up to the next quote.
    Only a lookup key: what it finds is used only if the decoded sakId is the memo's."""
    i = raw.find(b'"sakId":"')
    if i < 0:
        return None
    i += 9
    j = raw.find(b'"', i, i + 128)
    return raw[i:j] if j >= 0 else None


def _parse_raw(
    raw: bytes, original_key: str | None, avstemming: datetime | None, source: Source | None, store: Memo
) -> Request | None:
    key = _sak_id_text(raw)
    memo = store.get(key) if key is not None else None
    # Blocks: consecutive runs of the memo found one after the other in the new bytes, each
    # replaced by one marker. (i, j): runs i..j, inclusive.
    blocks: list[tuple[int, int]] = []
    text = raw
    if memo is not None:
        text = _mark(raw, memo, blocks)
        if blocks and text.count(_MARKER_DIGITS) != len(blocks):
            return None
    head = dp.read_head(orjson.loads(text))
    sak_id = head[1]
    elems = head[-1]
    # The message's days in order: blocks found (markers), and segments of days decoded now.
    order: list[tuple[int, int] | list[Any]] = []
    fresh: list[Any]
    if blocks:
        assert memo is not None
        if memo.sak_id != sak_id:
            return None
        fresh = []
        segment: list[Any] | None = None
        unseen = dict.fromkeys(range(len(blocks)))
        for x in elems:
            if type(x) is int:
                number = -x - _MARKER_BASE
                if number not in unseen:
                    return None
                del unseen[number]
                order.append(blocks[number])
                segment = None
            else:
                if segment is None:
                    segment = []
                    order.append(segment)
                segment.append(x)
                fresh.append(x)
        if unseen:  # a marker not in the list of days
            return None
        store.found += sum(j - i + 1 for i, j in blocks)
    else:
        fresh = elems
        order.append(elems)
    groups = dp.fast_day_groups(fresh)
    if groups is None:
        return None
    dp.check_paid_days(groups)
    new = {
        (meldeperiode, typ): dp.paid_group(sak_id, meldeperiode, typ, days)
        for (meldeperiode, typ), days in groups.items()
    }
    # Runs of the days decoded now; a key in two runs is kept in none.
    fresh_runs: list[list[tuple[tuple[str, str], list[Any]]]] = []
    fresh_keys: set[tuple[str, str]] = set()
    twice: set[tuple[str, str]] = set()
    for item in order:
        if type(item) is list:
            these = [(k, list(days)) for k, days in groupby(item, _MP_TYP)]
            for k, _ in these:
                if k in fresh_keys:
                    twice.add(k)
                fresh_keys.add(k)
            fresh_runs.append(these)
    # A day decoded now of a found run's meldeperiode and utbetalingstype: not that run's group.
    if memo is not None and blocks:
        for k in fresh_keys:
            at = memo.index.get(k)
            if at is not None and _in(at, blocks):
                return None
    # No day paid in two groups of one utbetalingstype: the new groups' paid days overlap no
    # other group's (the found runs' never overlap each other's: they passed together).
    new_spans: dict[str, list[tuple[date, date, tuple[str, str]]]] = {}
    for (mp, typ), group in new.items():
        perioder = group[3]
        span = (perioder[0].fom, max(q.tom for q in perioder), (mp, typ))
        new_spans.setdefault(typ, []).append(span)
        if memo is not None and blocks and _overlaps_found(memo, blocks, typ, span[0], span[1]):
            return None
    for spans in new_spans.values():
        spans.sort()
        for a, b in pairwise(spans):
            if b[0] <= a[1]:
                return None
    paid: list[dp.Paid] = []
    if memo is not None:
        for i, j in blocks:
            paid.extend(filter(None, memo.paids[i : j + 1]))
    paid.extend(new.values())
    request = dp.build_request(head, paid, original_key, avstemming, source)
    store.decoded += len(fresh)
    if key is not None and key == sak_id.encode():
        store.put(key, _next_memo(sak_id, memo, order, fresh_runs, new, twice, new_spans))
    return request


def _span(memo: _Memo, at: int) -> tuple[date, date, tuple[str, str]]:
    """The span entry of the memo's run `at` (one that pays)."""
    key = memo.keys[at]
    spans = memo.spans[key[1]]
    paid = memo.paids[at]
    assert paid is not None
    k = bisect_right(spans, paid[3][0].fom, key=_FIRST) - 1
    while spans[k][2] != key:
        k -= 1
    return spans[k]


def _in(at: int, blocks: list[tuple[int, int]]) -> bool:
    return any(i <= at <= j for i, j in blocks)


def _overlaps_found(memo: _Memo, blocks: list[tuple[int, int]], typ: str, first: date, last: date) -> bool:
    """A found run of `typ` pays a day in [first, last] (the memo's spans never overlap, so the
    ones that reach into it are the last few that start before its end)."""
    spans = memo.spans.get(typ)
    if not spans:
        return False
    k = bisect_right(spans, last, key=_FIRST)
    while k > 0 and spans[k - 1][1] >= first:
        k -= 1
        if _in(memo.index[spans[k][2]], blocks):
            return True
    return False


_FIRST = itemgetter(0)


def _mark(raw: bytes, memo: _Memo, blocks: list[tuple[int, int]]) -> bytes:
    """`raw` with each block of the memo's runs it holds, one after the other, replaced by a
    marker (appended to `blocks`); `raw` itself when none is found."""
    n = len(memo.lens)
    cum = list(accumulate(memo.lens))  # run i: memo.text[start(i):end(i)]
    mtext = memo.text
    parts: list[bytes] = []
    at = misses = i = 0
    startswith, find = raw.startswith, raw.find
    while i < n:
        s = (cum[i - 1] if i else 0) + i
        g = mtext[s : cum[i] + i]
        if startswith(g, at + 1):
            p = at + 1
        else:
            p = find(g, at, at + len(g) + _SEARCH_SLACK)
            if p < 0:
                misses += 1
                if misses > _MISSES:
                    break
                i += 1
                continue
        # the longest block from run i whose text the bytes hold from p on: a stride of runs
        # at a time (a comma and the runs' texts), then run by run where a stride differs
        j = i
        while j < n - 1:
            end = cum[j] + j
            k = min(j + _STRIDE, n - 1)
            if startswith(mtext[end : cum[k] + k], p + end - s):
                j = k
                continue
            while j < k and startswith(mtext[cum[j] + j : cum[j + 1] + j + 1], p + cum[j] + j - s):
                j += 1
            break
        parts.append(raw[at:p])
        parts.append(b"-%d" % (_MARKER_BASE + len(blocks)))
        blocks.append((i, j))
        at = p + cum[j] + j - s
        i = j + 1
    if not blocks:
        return raw
    parts.append(raw[at:])
    return b"".join(parts)


def _next_memo(
    sak_id: str,
    memo: _Memo | None,
    order: list[tuple[int, int] | list[Any]],
    fresh_runs: list[list[tuple[tuple[str, str], list[Any]]]],
    new: dict[tuple[str, str], dp.Paid],
    twice: set[tuple[str, str]],
    new_spans: dict[str, list[tuple[date, date, tuple[str, str]]]],
) -> _Memo:
    """The memo of this message: its blocks found and its runs decoded now, in its order."""
    texts: list[bytes] = []
    keys: list[tuple[str, str]] = []
    lens: list[int] = []
    paids: list[dp.Paid | None] = []
    cum = list(accumulate(memo.lens)) if memo is not None else []
    found: list[tuple[int, int]] = []
    segments = iter(fresh_runs)
    for item in order:
        if type(item) is tuple:
            assert memo is not None
            i, j = item
            found.append(item)
            texts.append(memo.text[(cum[i - 1] if i else 0) + i : cum[j] + j])
            keys.extend(memo.keys[i : j + 1])
            lens.extend(memo.lens[i : j + 1])
            paids.extend(memo.paids[i : j + 1])
            continue
        for k, days in next(segments):
            if k in twice:
                continue
            try:
                run = orjson.dumps(days)[1:-1]
            except orjson.JSONEncodeError:
                continue
            texts.append(run)
            keys.append(k)
            lens.append(len(run))
            paids.append(new.get(k))
    # spans: the memo's, less the runs not found, and the new groups' that are runs
    index = dict(zip(keys, range(len(keys)), strict=True))
    spans: dict[str, list[tuple[date, date, tuple[str, str]]]] = {}
    if memo is not None:
        spans = {typ: list(old) for typ, old in memo.spans.items()}
        # less the runs not found (few: the changed and the dropped ones)
        at = 0
        for i, j in [*found, (len(memo.lens), len(memo.lens))]:
            for gone in range(at, i):
                p = memo.paids[gone]
                if p is not None:
                    typ = memo.keys[gone][1]
                    spans[typ].remove(_span(memo, gone))
            at = j + 1
    for typ, these in new_spans.items():
        into = spans.setdefault(typ, [])
        for e in these:
            if e[2] in index:
                insort(into, e)
    text = b",".join(texts)
    return _Memo(
        sak_id, text, tuple(keys), tuple(lens), tuple(paids), index, spans, len(text) + _RUN_OVERHEAD * len(keys)
    )
