"""The console's HTTP side (FastAPI): JSON under `/api`, server-rendered pages elsewhere, the
OpenAPI description at `/openapi.json` and `/docs`. Every page and call needs a signed-in user
(`auth`), except the sign-in page and the style sheet.

    GET  /api/dashboard                  FEILET not handled, Oppdrag stuck, counts, avstemming
    GET  /api/messages                   search (topic, key, sak, fagsystem, status, kind, from, to, text, page, size)
    POST /api/messages/search            the same with a JSON body (a text search for an ident stays out of URLs)
    GET  /api/messages/{id}              one record, idents masked
    POST /api/messages/{id}/reveal       one record with idents, the read audited ({"reason"})
    GET  /api/saker/{fagsystem}/{sakId}  everything of one sak, and its story
    GET  /api/oppdrag/{id}               an Oppdrag with its receipt(s), statuses, audit entries
    GET  /api/audit                      the audit log
    POST /api/actions/mark-handled       {"recordId", "reason"}: a FEILET is dealt with (operator)
    POST /api/actions/manual-receipt     {"recordId", "code", "text", "reason"} (operator)
    POST /api/actions/resend             {"recordId", "reason"}: the OS bridge hands an Oppdrag in flight to OS again (operator)
    POST /api/actions/resubmit           {"recordId", "value", "reason"}: a corrected request from the DLQ (operator)

Security: a session cookie (HttpOnly, SameSite=Strict) or a bearer token; forms and cookie
POSTs carry the session's CSRF token and must come from this origin; responses carry a Content
Security Policy without script, `frame-ancestors 'none'` and `X-Frame-Options: DENY`. Idents are
masked in every list and in details unless revealed (audited). A query parameter that holds an
ident is refused (400): idents never travel in URLs, and paths are logged with idents masked.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from helved.console import queries, svg
from helved.console.actions import Actions, Refused, User
from helved.console.archive import KINDS, Archive
from helved.console.auth import Auth, Session, csrf_ok
from helved.console.present import has_ident, mask, mask_obj, pretty
from helved.console.templates import CSS, environment
from helved.errors import HelvedError

log = logging.getLogger("helved.console.http")

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
# Swagger UI's page loads its script and style from a CDN and starts with an inline script.
DOCS_CSP = (
    "default-src 'none'; script-src 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: https://fastapi.tiangolo.com; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)
STATUSES = ("MOTTATT", "HOS_OPPDRAG", "OK", "FEILET")
MAX_FORM = 64 * 1024
OSLO = ZoneInfo("Europe/Oslo")


class NotSignedIn(HelvedError):
    """A page or call without a valid session or token (answered 401 or a redirect to sign-in)."""


class ActionIn(BaseModel):
    recordId: int
    reason: str = Field(description="why: required, not empty")


class ReceiptIn(ActionIn):
    code: str = Field("00", description="00, or 04 with a text")
    text: str | None = Field(None, description="beskrMelding; required with 04")


class ResubmitIn(ActionIn):
    value: Any = Field(description="the corrected request: a JSON object")


class RevealIn(BaseModel):
    reason: str


class SearchIn(BaseModel):
    topic: list[str] = []
    key: str | None = None
    sak: str | None = None
    fagsystem: str | None = None
    status: str | None = None
    kind: str | None = None
    from_: str | None = Field(None, alias="from")
    to: str | None = None
    text: str | None = None
    replays: bool = False
    page: int = 1
    size: int = 50


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def parse_time(text: str | None) -> int | None:
    """Epoch milliseconds, or an ISO date/date-time (Europe/Oslo wall time unless it has an
    offset) as epoch milliseconds; None for empty text. ValueError otherwise."""
    if text is None or not text.strip():
        return None
    t = text.strip()
    if t.isdigit():
        return int(t)
    dt = datetime.fromisoformat(t)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=OSLO)
    return int(dt.timestamp() * 1000)


def masked_record(r: dict[str, Any]) -> dict[str, Any]:
    out = dict(r)
    for k in ("key", "originalKey", "body"):
        if out.get(k) is not None:
            out[k] = mask(out[k])
    out["headers"] = [[n, mask(v)] for n, v in r.get("headers") or []]
    return out


def _local_path(text: str | None, default: str = "/") -> str:
    if not text or not text.startswith("/") or text.startswith("//") or "\\" in text:
        return default
    return text


def who(request: Request) -> tuple[User, Session | None]:
    """The signed-in user: by bearer token, else by session cookie; `NotSignedIn` otherwise."""
    auth: Auth = request.app.state.auth
    user = auth.bearer(request.headers.get("authorization"), request.headers.get("x-helved-user"))
    if user is not None:
        return user, None
    s = auth.session(request.cookies.get(Auth.COOKIE))
    if s is None:
        raise NotSignedIn()
    return s.user, s


def no_idents_in_query(request: Request) -> None:
    for name, value in request.query_params.multi_items():
        if has_ident(value):
            raise HTTPException(400, f"query parameter {name!r} holds an ident: idents never go in URLs (use POST)")


def signed_in(request: Request) -> tuple[User, Session | None]:
    no_idents_in_query(request)
    return who(request)


SignedIn = Annotated[tuple[User, Session | None], Depends(signed_in)]


def create_app(
    archive: Archive,
    actions: Actions,
    auth: Auth,
    *,
    clock: Callable[[], int] = _now_ms,
    flight_ms: int = queries.HOUR_MS,
) -> FastAPI:
    """The console application over `archive`, acting through `actions`, guarded by `auth`."""
    app = FastAPI(
        title="helved console",
        description="The operator console's API: read the archive of every helved topic, act with a reason.",
        version="1",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.auth = auth
    env = environment()
    topics_all = list(archive.topics.all())

    # -- plumbing ---------------------------------------------------------------------------------

    @app.middleware("http")
    async def security(request: Request, call_next: Any) -> Response:
        start = time.perf_counter()
        response: Response = await call_next(request)
        h = response.headers
        h["Content-Security-Policy"] = DOCS_CSP if request.url.path == "/docs" else CSP
        h["X-Frame-Options"] = "DENY"
        h["X-Content-Type-Options"] = "nosniff"
        h["Referrer-Policy"] = "same-origin"  # "no-referrer" makes browsers send `Origin: null` on form posts
        h["Cross-Origin-Opener-Policy"] = "same-origin"
        h["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
        if request.url.path != "/static/console.css":
            h["Cache-Control"] = "no-store"
        log.info(
            "%s %s %s %.1f ms",
            request.method,
            mask(request.url.path),
            response.status_code,
            (time.perf_counter() - start) * 1000,
        )
        return response

    @app.exception_handler(NotSignedIn)
    async def not_signed_in(request: Request, exc: NotSignedIn) -> Response:
        path = request.url.path
        if path.startswith("/api") or path in ("/openapi.json",) or request.method != "GET":
            return JSONResponse(
                {"detail": "sign in: a session or an Authorization: Bearer token"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        return RedirectResponse(f"/login?next={_local_path(path)}", status_code=303)

    def same_origin(request: Request) -> None:
        origin = request.headers.get("origin")
        if origin and origin != "null":
            expected = f"{request.url.scheme}://{request.url.netloc}"
            if origin != expected:
                raise HTTPException(403, "cross-origin request refused")
        elif origin == "null":
            raise HTTPException(403, "cross-origin request refused")

    def require_csrf(request: Request, session: Session | None, given: str | None) -> None:
        """Cookie-authenticated writes need the session's CSRF token; bearer calls need none."""
        same_origin(request)
        if session is not None and not csrf_ok(session, given):
            raise HTTPException(403, "missing or wrong CSRF token")

    async def form(request: Request) -> dict[str, str]:
        body = await request.body()
        if len(body) > MAX_FORM:
            raise HTTPException(413, "form too large")
        ctype = request.headers.get("content-type", "")
        if body and not ctype.startswith("application/x-www-form-urlencoded"):
            raise HTTPException(415, "a form is application/x-www-form-urlencoded")
        return {k: v[0] for k, v in parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True).items()}

    def page(
        request: Request, name: str, user: User | None, session: Session | None, status: int = 200, **ctx: Any
    ) -> HTMLResponse:
        html = env.get_template(name).render(user=user, csrf=session.csrf if session else "", **ctx)
        return HTMLResponse(html, status_code=status)

    def refused_page(request: Request, user: User, session: Session | None, exc: Refused, back: str) -> HTMLResponse:
        return page(
            request, "result.html", user, session, exc.status, heading="Refused", message=exc.reason, back=back,
            flash=exc.reason, flash_kind="error",
        )  # fmt: skip

    def search_from(values: dict[str, Any]) -> queries.Search:
        try:
            topics_ = values.get("topic") or []
            if isinstance(topics_, str):
                topics_ = [topics_] if topics_ else []
            return queries.Search(
                topics=tuple(topics_),
                key=values.get("key") or None,
                sak=values.get("sak") or None,
                fagsystem=values.get("fagsystem") or None,
                status=values.get("status") or None,
                kind=values.get("kind") or None,
                from_ms=parse_time(values.get("from")),
                to_ms=parse_time(values.get("to")),
                text=values.get("text") or None,
                replays=str(values.get("replays", "")).lower() in ("1", "true", "yes", "on"),
                page=int(values.get("page") or 1),
                size=int(values.get("size") or 50),
            )
        except ValueError as exc:
            raise HTTPException(400, f"bad search: {exc}") from None

    def oppdrag_view(rid: int) -> dict[str, Any] | None:
        o = queries.oppdrag(archive, rid)
        if o is None:
            return None
        for k in o["receipts"]:
            k["manual"] = any(h[0] == "manual-receipt" for h in k["headers"])
            k["resend"] = any(h[0] == "resend" for h in k["headers"])
        return o

    # -- public -----------------------------------------------------------------------------------

    @app.get("/static/console.css", include_in_schema=False)
    def css() -> Response:
        return Response(CSS, media_type="text/css", headers={"Cache-Control": "max-age=300"})

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/login", include_in_schema=False)
    def login_page(request: Request, next: str = "/") -> HTMLResponse:
        return page(request, "login.html", None, None, next=_local_path(next))

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        same_origin(request)
        f = await form(request)
        made = auth.login(f.get("token"), f.get("name"))
        if made is None:
            log.warning("console: sign-in refused")
            return page(
                request, "login.html", None, None, 401, next=_local_path(f.get("next")),
                flash="Wrong token, or a name that is not a NAV ident / user name.", flash_kind="error",
            )  # fmt: skip
        sid, s = made
        log.info("console: %s signed in as %s", s.user.name, s.user.role)
        resp = RedirectResponse(_local_path(f.get("next")), status_code=303)
        resp.set_cookie(
            Auth.COOKIE, sid, httponly=True, samesite="strict", secure=request.url.scheme == "https", path="/",
            max_age=int(auth.ttl_s),
        )  # fmt: skip
        return resp

    @app.post("/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        _, session = who(request)
        f = await form(request)
        require_csrf(request, session, f.get("csrf"))
        auth.logout(request.cookies.get(Auth.COOKIE))
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(Auth.COOKIE, path="/")
        return resp

    # -- OpenAPI ----------------------------------------------------------------------------------

    @app.get("/openapi.json", include_in_schema=False)
    def openapi(u: SignedIn) -> JSONResponse:
        if app.openapi_schema is None:
            app.openapi_schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
        return JSONResponse(app.openapi_schema)

    @app.get("/docs", include_in_schema=False)
    def docs(u: SignedIn) -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="helved console API")

    # -- JSON API ---------------------------------------------------------------------------------

    @app.get("/api/dashboard", tags=["read"])
    def api_dashboard(u: SignedIn) -> Any:
        return mask_obj(queries.dashboard(archive, clock(), flight_ms=flight_ms))

    @app.get("/api/messages", tags=["read"])
    def api_messages(
        request: Request,
        u: SignedIn,
        topic: list[str] | None = None,
        key: str | None = None,
        sak: str | None = None,
        fagsystem: str | None = None,
        status: str | None = None,
        kind: str | None = None,
        from_: str | None = Query(None, alias="from"),
        to: str | None = None,
        text: str | None = None,
        replays: bool = False,
        page: int = 1,
        size: int = 50,
    ) -> Any:
        """Records, newest first (`from`/`to`: epoch ms or ISO, Europe/Oslo). Idents masked."""
        values: dict[str, Any] = dict(request.query_params)
        values["topic"] = request.query_params.getlist("topic")
        found = queries.search(archive, search_from(values))
        found["items"] = [masked_record(r) for r in found["items"]]
        return found

    @app.post("/api/messages/search", tags=["read"])
    def api_search(u: SignedIn, body: SearchIn) -> Any:
        """As GET /api/messages, the filters in the body (a text search for an ident)."""
        values = body.model_dump(by_alias=True)
        found = queries.search(archive, search_from(values))
        found["items"] = [masked_record(r) for r in found["items"]]
        return found

    @app.get("/api/messages/{rid}", tags=["read"])
    def api_message(u: SignedIn, rid: int) -> Any:
        r = queries.record(archive, rid)
        if r is None:
            raise HTTPException(404, "no such record")
        return masked_record(r)

    @app.post("/api/messages/{rid}/reveal", tags=["read"])
    def api_reveal(u: SignedIn, rid: int, body: RevealIn, request: Request) -> Any:
        """The record with idents shown; the read goes to the audit log with the reason."""
        user, session = u
        require_csrf(request, session, request.headers.get("x-csrf-token"))
        try:
            actions.audit_read(user, rid, body.reason)
        except Refused as exc:
            raise HTTPException(exc.status, exc.reason) from None
        return queries.record(archive, rid)

    @app.get("/api/saker/{fagsystem}/{sak_id}", tags=["read"])
    def api_sak(u: SignedIn, fagsystem: str, sak_id: str) -> Any:
        s = queries.sak(archive, sak_id, fagsystem)
        s["records"] = [masked_record(r) for r in s["records"]]
        return mask_obj(s)

    @app.get("/api/oppdrag/{rid}", tags=["read"])
    def api_oppdrag(u: SignedIn, rid: int) -> Any:
        o = oppdrag_view(rid)
        if o is None:
            raise HTTPException(404, "no such Oppdrag record")
        return mask_obj(o)

    @app.get("/api/audit", tags=["read"])
    def api_audit(u: SignedIn, page: int = 1, size: int = 100) -> Any:
        return mask_obj(queries.audit_log(archive, page, size))

    def _act(request: Request, u: tuple[User, Session | None], fn: Callable[[User], dict[str, Any]]) -> Any:
        user, session = u
        require_csrf(request, session, request.headers.get("x-csrf-token"))
        try:
            return fn(user)
        except Refused as exc:
            raise HTTPException(exc.status, exc.reason) from None

    @app.post("/api/actions/mark-handled", tags=["act"])
    def api_mark_handled(u: SignedIn, body: ActionIn, request: Request) -> Any:
        """Mark a FEILET status as handled (operator). The audit entry is returned."""
        return _act(request, u, lambda user: actions.mark_handled(user, body.recordId, body.reason))

    @app.post("/api/actions/manual-receipt", tags=["act"])
    def api_manual_receipt(u: SignedIn, body: ReceiptIn, request: Request) -> Any:
        """Add OS's lost receipt to an Oppdrag in flight (operator): 00, or 04 with a text."""
        return _act(
            request, u, lambda user: actions.manual_receipt(user, body.recordId, body.code, body.reason, body.text)
        )

    @app.post("/api/actions/resend", tags=["act"])
    def api_resend(u: SignedIn, body: ActionIn, request: Request) -> Any:
        """Ask the OS bridge to hand an Oppdrag in flight to OS again (operator): it acts on the
        audit entry returned, once."""
        return _act(request, u, lambda user: actions.resend(user, body.recordId, body.reason))

    @app.post("/api/actions/resubmit", tags=["act"])
    def api_resubmit(u: SignedIn, body: ResubmitIn, request: Request) -> Any:
        """Resubmit a corrected request from a DLQ record to its sender's input topic, under its
        original key (operator). `value` is the corrected request (a JSON object)."""
        import orjson

        return _act(
            request, u, lambda user: actions.resubmit(user, body.recordId, orjson.dumps(body.value), body.reason)
        )

    # -- pages ------------------------------------------------------------------------------------

    DONE = {
        "handled": "Marked handled; the audit log has it.",
        "receipt": "Manual receipt sent to OS's receipt topic.",
        "resend": "Resend asked: the OS bridge hands the Oppdrag to OS again once it reads the audit entry.",
        "resubmitted": "The corrected request went to the sender's input topic under its key; the audit log has it.",
    }

    @app.get("/", include_in_schema=False)
    def dashboard_page(u: SignedIn, request: Request, done: str | None = None) -> HTMLResponse:
        user, session = u
        d = queries.dashboard(archive, clock(), flight_ms=flight_ms)
        return page(
            request, "dashboard.html", user, session, d=d, statuses=STATUSES, now=queries_now(clock()),
            flash=DONE.get(done or ""),
        )  # fmt: skip

    def messages_page(request: Request, u: tuple[User, Session | None], values: dict[str, Any]) -> HTMLResponse:
        user, session = u
        found = queries.search(archive, search_from(values))
        q = {
            k: values.get(k) or "" for k in ("topic", "key", "sak", "fagsystem", "status", "kind", "from", "to", "text")
        }
        return page(
            request, "messages.html", user, session, page=found, q=q, topics=topics_all, kinds=KINDS,
            all_statuses=STATUSES,
        )  # fmt: skip

    @app.get("/messages", include_in_schema=False)
    def messages_get(u: SignedIn, request: Request) -> HTMLResponse:
        return messages_page(request, u, dict(request.query_params))

    @app.post("/messages", include_in_schema=False)
    async def messages_post(request: Request) -> HTMLResponse:
        u = who(request)
        f = await form(request)
        require_csrf(request, u[1], f.get("csrf"))
        return await run_in_threadpool(messages_page, request, u, f)

    def message_page(
        request: Request,
        u: tuple[User, Session | None],
        rid: int,
        revealed: bool,
        *,
        flash: str | None = None,
        flash_kind: str | None = None,
        status: int = 200,
        edited: str | None = None,
    ) -> HTMLResponse:
        """A record's detail. A DLQ record of a request, revealed, for an operator: the form
        that resubmits it corrected (its editor holds the value as it is, or `edited`)."""
        user, session = u
        r = queries.record(archive, rid)
        if r is None:
            raise HTTPException(404, "no such record")
        fmt, text = pretty(r["body"])
        with archive.engine.connect() as conn:
            audit = queries.audit_entries(conn, refs={queries.ref_of(r)})
        resubmit = None
        if r["kind"] == "dlq":
            src = next((v for n, v in r["headers"] if n == "src-topic"), None)
            inputs = archive.topics.inputs()
            resubmit = {
                "request": src in inputs and bool(r["key"]),
                "topic": src,
                "why": (
                    None
                    if src in inputs and r["key"]
                    else "a request without a key"
                    if src in inputs
                    else "a receipt"
                    if src == archive.topics.kvittering
                    else f"a record of {src or 'an unknown topic'}"
                ),
                # the editor: the operator's own edit, or the value as it is only once revealed
                "value": edited if edited is not None else (text if revealed and fmt in ("json", "text") else ""),
                "open": user.operator and (revealed or edited is not None),
            }
        return page(
            request, "message.html", user, session, status, r=r, fmt=fmt, text=text, revealed=revealed, audit=audit,
            resubmit=resubmit, flash=flash, flash_kind=flash_kind,
        )  # fmt: skip

    @app.get("/messages/{rid}", include_in_schema=False)
    def message_get(u: SignedIn, rid: int, request: Request, done: str | None = None) -> HTMLResponse:
        return message_page(request, u, rid, revealed=False, flash=DONE.get(done or ""))

    @app.post("/messages/{rid}/reveal", include_in_schema=False)
    async def message_reveal(rid: int, request: Request) -> HTMLResponse:
        u = who(request)
        f = await form(request)
        require_csrf(request, u[1], f.get("csrf"))
        try:
            await run_in_threadpool(actions.audit_read, u[0], rid, f.get("reason"))
        except Refused as exc:
            return refused_page(request, u[0], u[1], exc, f"/messages/{rid}")
        return await run_in_threadpool(message_page, request, u, rid, True)

    @app.get("/oppdrag/{rid}", include_in_schema=False)
    def oppdrag_page(u: SignedIn, rid: int, request: Request, done: str | None = None) -> HTMLResponse:
        user, session = u
        o = oppdrag_view(rid)
        if o is None:
            raise HTTPException(404, "no such Oppdrag record")
        _, xml = pretty(o["oppdrag"]["body"])
        return page(request, "oppdrag.html", user, session, o=o, xml=xml, flash=DONE.get(done or ""))

    @app.get("/sak/{fagsystem}/{sak_id}", include_in_schema=False)
    def sak_page(u: SignedIn, fagsystem: str, sak_id: str, request: Request) -> HTMLResponse:
        user, session = u
        start = time.perf_counter()
        s = queries.sak(archive, sak_id, fagsystem)
        periods_svg = svg.periods(s["utbetalinger"])
        timeline_svg = svg.timeline(s["requests"])
        elapsed_ms = (time.perf_counter() - start) * 1000
        return page(
            request, "sak.html", user, session, s=s, periods_svg=periods_svg, timeline_svg=timeline_svg,
            elapsed_ms=elapsed_ms,
        )  # fmt: skip

    @app.get("/audit", include_in_schema=False)
    def audit_page(u: SignedIn, request: Request, page_no: int = 1) -> HTMLResponse:
        user, session = u
        return page(request, "audit.html", user, session, log=queries.audit_log(archive, page_no, 200))

    async def page_action(request: Request, run: Callable[[User, dict[str, str]], Any], done: str) -> Response:
        user, session = who(request)
        f = await form(request)
        require_csrf(request, session, f.get("csrf"))
        back = _local_path(f.get("next"))
        try:
            await run_in_threadpool(run, user, f)
        except Refused as exc:
            return refused_page(request, user, session, exc, back)
        sep = "&" if "?" in back else "?"
        return RedirectResponse(f"{back}{sep}done={done}", status_code=303)

    def _rid(f: dict[str, str]) -> int:
        try:
            return int(f.get("record", ""))
        except ValueError:
            raise Refused("no record named", 400) from None

    @app.post("/actions/mark-handled", include_in_schema=False)
    async def mark_handled_page(request: Request) -> Response:
        return await page_action(
            request, lambda user, f: actions.mark_handled(user, _rid(f), f.get("reason")), "handled"
        )

    @app.post("/actions/resend", include_in_schema=False)
    async def resend_page(request: Request) -> Response:
        return await page_action(request, lambda user, f: actions.resend(user, _rid(f), f.get("reason")), "resend")

    @app.post("/actions/resubmit", include_in_schema=False)
    async def resubmit_page(request: Request) -> Response:
        """On refusal the DLQ record's page again with the operator's edit kept in the editor
        (what they typed; the archived value stays masked: no read without its audit entry)."""
        u = who(request)
        f = await form(request)
        require_csrf(request, u[1], f.get("csrf"))
        try:
            rid = _rid(f)
            await run_in_threadpool(actions.resubmit, u[0], rid, f.get("value", ""), f.get("reason"))
        except Refused as exc:
            if exc.status in (403, 404) or not u[0].operator or not f.get("record", "").isdigit():
                return refused_page(request, u[0], u[1], exc, "/messages?kind=dlq")
            refused = exc
        else:
            return RedirectResponse(f"/messages/{rid}?done=resubmitted", status_code=303)
        return await run_in_threadpool(
            lambda: message_page(
                request, u, int(f["record"]), False, flash=refused.reason, flash_kind="error", status=refused.status,
                edited=f.get("value", ""),
            )
        )  # fmt: skip

    @app.post("/actions/manual-receipt", include_in_schema=False)
    async def manual_receipt_page(request: Request) -> Response:
        return await page_action(
            request,
            lambda user, f: actions.manual_receipt(user, _rid(f), f.get("code", ""), f.get("reason"), f.get("text")),
            "receipt",
        )

    return app


def queries_now(ms: int) -> str:
    from helved.console.present import oslo

    return oslo(ms)
