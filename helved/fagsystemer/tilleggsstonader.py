"""The tilleggsstønader contract (`fagsystemer.md`, TILLEGGSSTØNADER): validate, split.

    {dryrun?, sakId, behandlingId, personident, vedtakstidspunkt, periodetype,
     saksbehandler?, beslutter?,
     utbetalinger: [{id, stønad, brukFagområdeTillst?, perioder: [{fom, tom, beløp, betalendeEnhet?}]}]}

Tilleggsstønader sends only the utbetalinger a decision touches (`whole_sak=False`): each is
its own payment chain with the sender's `id` as uid (a UUID, kept in its canonical form:
lower-case `8-4-4-4-12` hex digits, see `uuid_field`), and `perioder: []` asks to stop
that id (`Request.stops`). The stønad decides klassekode and fagområde (`STØNADER`); a message
may touch several fagområder, and each utbetaling carries its own in `Stønad.fagområde` (one
Oppdrag per (sak, fagområde) is the diff's business, settled rule 1). The state key stays
(sakId, TILLEGGSSTØNADER) for all of them (settled rule 2).

`parse_request` takes the value an edge JSON decoder produced and either returns a `Request`
or raises `RequestRejected` with the first broken rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from helved.domain.fields import (
    amount,
    bounded,
    date_field,
    datetime_field,
    enhet_field,
    list_field,
    opt_bool,
    periodetype_field,
    person_ident,
    string,
    uuid_field,
)
from helved.domain.model import Fagsystem, Periode, Periodetype, Request, SakKey, Source, Stønad, Utbetaling
from helved.domain.periods import checked_perioder
from helved.errors import ErrorCode, bad_request

from .contract import Contract

FAGSYSTEM = Fagsystem.TILLEGGSSTØNADER
# The fagområde tilsyn barn, læremidler, boutgifter and daglig reise tiltak were first paid
# under; `brukFagområdeTillst: true` keeps such old saker there.
TILLST = "TILLST"

# stønad -> (klassekode, fagområde), from the spec's Codes table.
_TILLSTPB = {
    "TILSYN_BARN_ENSLIG_FORSØRGER": "TSTBASISP2-OP",
    "TILSYN_BARN_AAP": "TSTBASISP4-OP",
    "TILSYN_BARN_ETTERLATTE": "TSTBASISP5-OP",
}
_TILLSTLM = {
    "LÆREMIDLER_ENSLIG_FORSØRGER": "TSLMASISP2-OP",
    "LÆREMIDLER_AAP": "TSLMASISP3-OP",
    "LÆREMIDLER_ETTERLATTE": "TSLMASISP4-OP",
}
_TILLSTBO = {
    "BOUTGIFTER_AAP": "TSBUASIA-OP",
    "BOUTGIFTER_ENSLIG_FORSØRGER": "TSBUAISP2-OP",
    "BOUTGIFTER_ETTERLATTE": "TSBUAISP3-O",
}
_DAGLIG_REISE_TILTAK = {
    "DAGLIG_REISE_TILTAK_ARBEIDSFORBEREDENDE": "TSDRAFT-OP",
    "DAGLIG_REISE_TILTAK_ARBEIDSRETTET_REHAB": "TSDRARREHABAGDAG-OP",
    "DAGLIG_REISE_TILTAK_ARBEIDSTRENING": "TSDRATTT2-OP",
    "DAGLIG_REISE_TILTAK_AVKLARING": "TSDRAAG-OP",
    "DAGLIG_REISE_TILTAK_DIGITAL_JOBBKLUBB": "TSDRDIGJK-OP",
    "DAGLIG_REISE_TILTAK_ENKELTPLASS_AMO": "TSDREPAMO-OP",
    "DAGLIG_REISE_TILTAK_ENKELTPLASS_FAG_YRKE_HOYERE_UTD": "TSDREPVGSHOY-OP",
    "DAGLIG_REISE_TILTAK_FORSØK_OPPLÆRINGSTILTAK_LENGER_VARIGHET": "TSDRFOLV",
    "DAGLIG_REISE_TILTAK_GRUPPE_AMO": "TSDRGRAMO-OP",
    "DAGLIG_REISE_TILTAK_GRUPPE_FAG_YRKE_HOYERE_UTD": "TSDRGRVGSHOY-OP",
    "DAGLIG_REISE_TILTAK_HØYERE_UTDANNING": "TSDRHOYUTD-OP",
    "DAGLIG_REISE_TILTAK_INDIVIDUELL_JOBBSTØTTE": "TSDRIPS-OP",
    "DAGLIG_REISE_TILTAK_INDIVIDUELL_JOBBSTØTTE_UNG": "TSDRIPSUNG-OP",
    "DAGLIG_REISE_TILTAK_JOBBKLUBB": "TSDRJB2009-OP",
    "DAGLIG_REISE_TILTAK_OPPFØLGING": "TSDROPPFAG2-OP",
    "DAGLIG_REISE_TILTAK_UTVIDET_OPPFØLGING_I_NAV": "TSDRUTVAVKLOPPF-OP",
    "DAGLIG_REISE_TILTAK_UTVIDET_OPPFØLGING_I_OPPLÆRING": "TSDRUTVOPPFOPPL-OP",
}
_TILLSTDR = {
    "DAGLIG_REISE_ENSLIG_FORSØRGER": "TSDRASISP4-OP",
    "DAGLIG_REISE_AAP": "TSDRASISP1-OP",
    "DAGLIG_REISE_ETTERLATTE": "TSDRASISP3-OP",
    **_DAGLIG_REISE_TILTAK,
}
_TILLSTRS = {
    "REISE_TIL_SAMLING_ENSLIG_FORSØRGER": "TSROSASISP2-OP",
    "REISE_TIL_SAMLING_AAP": "TSROSASISP3-OP",
    "REISE_TIL_SAMLING_ETTERLATTE": "TSROSASISP4-OP",
    "REISE_TIL_SAMLING_TILTAK_ARBEIDSFORBEREDENDE": "TSROSAFT-OP",
    "REISE_TIL_SAMLING_TILTAK_ARBEIDSTRENING": "TSROSATTILT-OP",
    "REISE_TIL_SAMLING_TILTAK_AVKLARING": "TSROSAAGR-OP",
    "REISE_TIL_SAMLING_TILTAK_ENKELTPLASS_AMO": "TSROSEPAMO-OP",
    "REISE_TIL_SAMLING_TILTAK_ENKELTPLASS_FAG_YRKE_HOYERE_UTD": "TSROSEPVGSHOY-OP",
    "REISE_TIL_SAMLING_TILTAK_GRUPPE_AMO": "TSROSGRAMO-OP",
    "REISE_TIL_SAMLING_TILTAK_GRUPPE_FAG_YRKE_HOYERE_UTD": "TSROSVGSHOY-OP",
    "REISE_TIL_SAMLING_TILTAK_HØYERE_UTDANNING": "TSROSHOYUTD-OP",
    "REISE_TIL_SAMLING_TILTAK_JOBBKLUBB": "TSROSJK2009-OP",
    "REISE_TIL_SAMLING_TILTAK_OPPFØLGING": "TSROSOPPFAG-OP",
    "REISE_TIL_SAMLING_TILTAK_UTVIDET_OPPFØLGING_I_OPPLÆRING": "TSROSUAOPPF-OP",
}
_GROUPS: Mapping[str, Mapping[str, str]] = {
    "TILLSTPB": _TILLSTPB,
    "TILLSTLM": _TILLSTLM,
    "TILLSTBO": _TILLSTBO,
    "TILLSTDR": _TILLSTDR,
    "TILLSTRS": _TILLSTRS,
}

# stønad -> (klassekode, its own fagområde)
STØNADER: Mapping[str, tuple[str, str]] = {
    name: (klassekode, fagområde) for fagområde, group in _GROUPS.items() for name, klassekode in group.items()
}
FAGOMRÅDER: tuple[str, ...] = (TILLST, *_GROUPS)

# Stønader that may be paid under TILLST instead (`brukFagområdeTillst: true`).
TILLST_STØNADER = frozenset({*_TILLSTPB, *_TILLSTLM, *_TILLSTBO, *_DAGLIG_REISE_TILTAK})

# Groups whose fagområde (TILLSTRO, TILLSTRA, TILLSTFL) has no known klassekode yet: OS's schema
# requires one, so their stønader are `STONAD_NOT_SUPPORTED`, never an Oppdrag without one.
NOT_SUPPORTED_PREFIXES: Mapping[str, str] = {
    "REISE_OPPSTART_": "TILLSTRO",
    "REIS_ARBEID_": "TILLSTRA",
    "FLYTTING_": "TILLSTFL",
}


def stønad_for(name: str, bruk_tillst: bool, periodetype: Periodetype, where: str) -> Stønad:
    """The `Stønad` a message names: its klassekode, and its fagområde (TILLST when
    `bruk_tillst`, allowed for tilsyn barn, læremidler, boutgifter and daglig reise tiltak)."""
    known = STØNADER.get(name)
    if known is None:
        for prefix, fagområde in NOT_SUPPORTED_PREFIXES.items():
            if name.startswith(prefix):
                raise bad_request(
                    ErrorCode.STONAD_NOT_SUPPORTED,
                    f"{where}stønad {name} (fagområde {fagområde}) is not supported yet: it has no klassekode",
                )
        raise bad_request(ErrorCode.INVALID_FIELD, f"{where}stønad {name!r} is not a known tilleggsstønad")
    klassekode, fagområde = known
    if bruk_tillst:
        if name not in TILLST_STØNADER:
            raise bad_request(
                ErrorCode.FAGOMRADE_TILLST_NOT_ALLOWED,
                f"{where}brukFagområdeTillst is allowed only for tilsyn barn, læremidler, boutgifter and "
                f"daglig reise tiltak, not for {name}",
            )
        fagområde = TILLST
    return Stønad(name, klassekode, fagområde, periodetype)


@dataclass(frozen=True, slots=True)
class _Entry:
    """One element of `utbetalinger`, read and checked: a stop when `perioder` is empty."""

    uid: str
    stønad: Stønad
    perioder: tuple[Periode, ...]


def _read_periode(raw: Any, where: str) -> Periode:
    if not isinstance(raw, dict):
        raise bad_request(ErrorCode.INVALID_FIELD, f"{where.rstrip('.')} must be an object")
    fom = date_field(raw, "fom", where)
    tom = date_field(raw, "tom", where)
    beløp = amount(raw, "beløp", where)
    enhet = enhet_field(raw, "betalendeEnhet", where)
    return Periode(fom, tom, beløp, None, enhet)


def _read_utbetaling(raw: Any, i: int, periodetype: Periodetype) -> _Entry:
    """`utbetalinger[i]`, every field checked (a stop too: it still names a known stønad)."""
    where = f"utbetalinger[{i}]."
    if not isinstance(raw, dict):
        raise bad_request(ErrorCode.INVALID_FIELD, f"utbetalinger[{i}] must be an object")
    uid = uuid_field(raw, "id", where)
    name = string(raw, "stønad", where)
    bruk_tillst = opt_bool(raw, "brukFagområdeTillst", where=where)
    stønad = stønad_for(name, bruk_tillst, periodetype, where)
    perioder_in = list_field(raw, "perioder", where)
    given = [_read_periode(p, f"{where}perioder[{j}].") for j, p in enumerate(perioder_in)]
    if not given:
        return _Entry(uid, stønad, ())
    return _Entry(uid, stønad, checked_perioder(given, periodetype, f"utbetalinger[{i}] ({name})"))


def _check_one_enhet_per_fagområde(entries: list[_Entry]) -> None:
    """Settled rule 7: the lines of one Oppdrag (one fagområde of the sak) name one betalende
    enhet at most. Periods without an enhet name none and mix with any."""
    enheter: dict[str, set[str]] = {}
    for entry in entries:
        for p in entry.perioder:
            if p.betalende_enhet is not None:
                enheter.setdefault(entry.stønad.fagområde, set()).add(p.betalende_enhet)
    for fagområde, named in sorted(enheter.items()):
        if len(named) > 1:
            raise bad_request(
                ErrorCode.MIXED_ENHET,
                f"the Oppdrag for fagområde {fagområde} would name several betalende enheter: "
                f"{', '.join(sorted(named))}",
            )


def _opt_ansvarlig(value: Mapping[str, Any], name: str, code: ErrorCode) -> str | None:
    """An optional saksbehandler/beslutter (1-8 characters), None when missing or null."""
    if value.get(name) is None:
        return None
    return bounded(string(value, name), name, 8, code)


# ---------------------------------------------------------------------------------------------


def parse_request(
    value: Any,
    *,
    original_key: str | None,
    avstemming: datetime | None = None,
    source: Source | None = None,
) -> Request:
    """Validate a tilleggsstønader message and split it into utbetalinger and stops.

    Each listed utbetaling with periods becomes one `Utbetaling` (uid = its `id`, periods merged
    by settled rule 5); each with `perioder: []` becomes a stop of its `id`. A missing
    saksbehandler/beslutter defaults to the message's fagområde, or TILLST when it touches
    several (or none): one Request has one saksbehandler for all its Oppdrag.
    """
    if not isinstance(value, dict):
        raise bad_request(ErrorCode.INVALID_FIELD, "the message must be a JSON object")
    dryrun = opt_bool(value, "dryrun")
    sak_id = bounded(string(value, "sakId"), "sakId", 30, ErrorCode.SAKID_LENGTH)
    behandling_id = bounded(string(value, "behandlingId"), "behandlingId", 30, ErrorCode.BEHANDLINGID_LENGTH)
    ident = person_ident(value, "personident")
    vedtakstidspunkt = datetime_field(value, "vedtakstidspunkt")
    periodetype = periodetype_field(value, "periodetype")
    saksbehandler = _opt_ansvarlig(value, "saksbehandler", ErrorCode.SAKSBEHANDLER_LENGTH)
    beslutter = _opt_ansvarlig(value, "beslutter", ErrorCode.BESLUTTER_LENGTH)

    entries: list[_Entry] = []
    first_index: dict[str, int] = {}
    for i, raw in enumerate(list_field(value, "utbetalinger")):
        entry = _read_utbetaling(raw, i, periodetype)
        if entry.uid in first_index:
            raise bad_request(
                ErrorCode.INVALID_FIELD,
                f"utbetalinger[{i}].id is the id of utbetalinger[{first_index[entry.uid]}]: each id once per message",
            )
        first_index[entry.uid] = i
        entries.append(entry)
    _check_one_enhet_per_fagområde(entries)

    fagområder = {e.stønad.fagområde for e in entries}
    default_ansvarlig = (next(iter(fagområder)) if len(fagområder) == 1 else TILLST)[:8]

    sak_key = SakKey(sak_id, FAGSYSTEM)
    utbetalinger = [
        Utbetaling(
            uid=e.uid,
            sak_id=sak_id,
            fagsystem=FAGSYSTEM,
            behandling_id=behandling_id,
            ident=ident,
            stønad=e.stønad,
            vedtakstidspunkt=vedtakstidspunkt,
            saksbehandler=saksbehandler or default_ansvarlig,
            beslutter=beslutter or default_ansvarlig,
            perioder=e.perioder,
        )
        for e in entries
        if e.perioder
    ]
    # Split order: by first fom, then klassekode, then uid; stops by uid. Independent of the
    # order the sender listed them in, so equal decisions give equal Oppdrag.
    utbetalinger.sort(key=lambda u: (u.perioder[0].fom, u.stønad.klassekode, u.uid))
    stops = tuple(sorted(e.uid for e in entries if not e.perioder))
    stop_stønader = tuple(sorted(((e.uid, e.stønad) for e in entries if not e.perioder), key=lambda pair: pair[0]))
    return Request(
        original_key=original_key,
        sak_key=sak_key,
        behandling_id=behandling_id,
        ident=ident,
        vedtakstidspunkt=vedtakstidspunkt,
        saksbehandler=saksbehandler or default_ansvarlig,
        beslutter=beslutter or default_ansvarlig,
        dryrun=dryrun,
        utbetalinger=tuple(utbetalinger),
        whole_sak=False,
        stops=stops,
        avstemming=avstemming or vedtakstidspunkt,
        source=source,
        stop_stønader=stop_stønader,
    )


CONTRACT = Contract(
    fagsystem=FAGSYSTEM,
    topic="tilleggsstonader.utbetaling.v1",
    dryrun_topic="helved.dryrun-ts.v1",
    parse=parse_request,
    fagområder=FAGOMRÅDER,
    stønadstyper={klassekode: name for name, (klassekode, _) in STØNADER.items()},
)
