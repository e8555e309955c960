"""Who may look and who may act: tokens, sessions, roles, CSRF.

Local and demo: two tokens, one per role (viewer: read; operator: read and act), generated at
start and printed by `helved console` (or fixed with `HELVED_CONSOLE_VIEWER_TOKEN` and
`HELVED_CONSOLE_OPERATOR_TOKEN`). A browser signs in once with a token and a name (the "who" of
the audit log) and gets a session cookie (HttpOnly, SameSite=Strict); every form carries the
session's CSRF token. An API client sends `Authorization: Bearer <token>` (and may name itself
with `X-Helved-User`); bearer calls carry no cookie and need no CSRF token.

Production OIDC (issuer, client id, a group claim for the operator role) is not built: see
`helved/console/README.md`.
"""

from __future__ import annotations

import hmac
import os
import re
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

from helved.console.actions import User
from helved.console.present import has_ident

SESSION_TTL_S = 8 * 3600
NAME = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")


@dataclass(frozen=True, slots=True)
class Tokens:
    viewer: str
    operator: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Tokens:
        """The two tokens: from the environment when set, else fresh random ones."""
        viewer = env.get("HELVED_CONSOLE_VIEWER_TOKEN", "").strip() or "v-" + secrets.token_urlsafe(24)
        operator = env.get("HELVED_CONSOLE_OPERATOR_TOKEN", "").strip() or "o-" + secrets.token_urlsafe(24)
        if hmac.compare_digest(viewer, operator):
            raise ValueError("the viewer and operator tokens must differ")
        return cls(viewer, operator)

    def role_of(self, token: str | None) -> str | None:
        if not token:
            return None
        t = token.strip().encode()
        if hmac.compare_digest(t, self.operator.encode()):
            return "operator"
        if hmac.compare_digest(t, self.viewer.encode()):
            return "viewer"
        return None


@dataclass(frozen=True, slots=True)
class Session:
    user: User
    csrf: str
    expires: float


def valid_name(name: str | None) -> str | None:
    """A sign-in name (a NAV ident such as Z123456, an e-mail): never a person's ident."""
    text = (name or "").strip()
    if not NAME.match(text) or has_ident(text):
        return None
    return text


class Auth:
    """Tokens and the browser sessions made from them (in memory: one console process)."""

    COOKIE = "helved_console"

    def __init__(self, tokens: Tokens, ttl_s: float = SESSION_TTL_S) -> None:
        self.tokens = tokens
        self.ttl_s = ttl_s
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def login(self, token: str | None, name: str | None) -> tuple[str, Session] | None:
        role = self.tokens.role_of(token)
        who = valid_name(name)
        if role is None or who is None:
            return None
        sid = secrets.token_urlsafe(32)
        s = Session(User(who, role), secrets.token_urlsafe(32), time.monotonic() + self.ttl_s)
        with self._lock:
            now = time.monotonic()
            self._sessions = {k: v for k, v in self._sessions.items() if v.expires > now}
            self._sessions[sid] = s
        return sid, s

    def session(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        with self._lock:
            s = self._sessions.get(sid)
        if s is None or s.expires <= time.monotonic():
            return None
        return s

    def logout(self, sid: str | None) -> None:
        with self._lock:
            self._sessions.pop(sid or "", None)

    def bearer(self, authorization: str | None, name: str | None) -> User | None:
        if not authorization or not authorization.lower().startswith("bearer "):
            return None
        role = self.tokens.role_of(authorization[7:])
        if role is None:
            return None
        return User(valid_name(name) or f"api-{role}", role)


def csrf_ok(session: Session, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(session.csrf.encode(), (given or "").encode())
