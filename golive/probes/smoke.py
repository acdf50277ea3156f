"""SMK-01: the smoke account logs in, a session comes back (a bearer token in the answer, or a session cookie),
and an authenticated endpoint answers as that account.

The credentials go as JSON or as a form, under the field names the app expects. In cookie mode the client's cookie
jar carries the session as a browser would (domain, path and Secure honoured); the jar is emptied afterwards, so no
session outlives the check. Neither the password, the token nor the cookie's value ever appears in a result.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import httpx

from golive.config import SmokeSettings
from golive.probes.http import Response, request
from golive.secrets import Secret


@dataclass(frozen=True)
class LoginResult:
    """What the login flow measured; ``problem`` says what was wrong against what was expected (None: it worked)."""

    login_url: str
    me_url: str
    login_status: int
    login_ms: float
    token_received: bool  # a session came back: the token (token mode) or the session cookie (cookie mode)
    me_status: int | None = None
    me_ms: float | None = None
    me_user: str | None = None
    problem: str | None = None
    session: str = "token"

    def measured(self) -> dict[str, str | int | float | bool | None]:
        return {"login_status": self.login_status, "login_ms": self.login_ms, "session": self.session,
                "received": self.token_received, "me_status": self.me_status, "me_ms": self.me_ms,
                "me_user": self.me_user}  # fmt: skip


def _detail(answer: Response) -> str:
    body = answer.json_body()
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return body["error"][:120]
    return answer.text[:120]


def _token(answer: Response, field: str) -> str | None:
    token = _json_field(answer, field) if answer.status == 200 else None
    return token if isinstance(token, str) and token else None


def _session_problem(answer: Response, cookies: list[str], settings: SmokeSettings, where: str) -> str | None:
    """Why the login answer carries no session (``cookies``: the names it set), against what was expected (None:
    it does)."""
    status = answer.status
    said = f" ({_detail(answer)!r})" if status >= 400 else ""
    if settings.session == "token":
        if _token(answer, settings.token_field) is None:
            return (f"{where}: status {status}{said}, no {settings.token_field!r} in the answer; expected status 200 "
                    f"with a {settings.token_field!r}")  # fmt: skip
        return None
    wanted = f"session cookie {settings.cookie_name!r}" if settings.cookie_name else "a session cookie"
    if not 200 <= status < 400 or (settings.cookie_name not in cookies if settings.cookie_name else not cookies):
        got = f"cookies {', '.join(cookies)}" if cookies else "no cookie"
        return f"{where}: status {status}{said}, {got}; expected a 2xx or 3xx answer setting {wanted}"
    return None


def smoke_login(
    client: httpx.Client, base_url: str, settings: SmokeSettings, user: str, password: Secret
) -> LoginResult:
    """POST the smoke account's credentials, then GET the authenticated endpoint with the session that came back
    (the token as ``Authorization: Bearer``, or the cookie from the jar)."""
    base = base_url.rstrip("/")
    login_url, me_url = base + settings.login_path, base + settings.me_path
    credentials = {settings.username_field: user, settings.password_field: password.reveal()}
    sent = {"json": credentials} if settings.login_format == "json" else {"data": credentials}
    client.cookies.clear()  # so the jar holds exactly what the login sets
    try:
        answer = request(client, "POST", login_url, f"POST {login_url}", **sent)
        cookies = [cookie.name for cookie in client.cookies.jar]
        login = LoginResult(login_url, me_url, answer.status, answer.latency_ms, False, session=settings.session)
        problem = _session_problem(answer, cookies, settings, f"POST {login_url} as {user}")
        if problem is not None:
            return replace(login, problem=problem)
        if settings.session == "token":
            client.cookies.clear()  # the token alone must authenticate
            headers, via = {"Authorization": f"Bearer {_token(answer, settings.token_field)}"}, "token"
        else:
            headers, via = {}, f"session cookie {settings.cookie_name or cookies[0]!r}"
        me = request(client, "GET", me_url, f"GET {me_url}", headers=headers)
    finally:
        client.cookies.clear()  # no session outlives the check
    found = _json_field(me, settings.me_user_field)
    me_user = found if isinstance(found, str) else None
    where = f"GET {me_url} with the login's {via}"
    problem = None
    if me.status != 200:
        problem = f"{where}: status {me.status} ({_detail(me)!r}), expected 200"
    elif me_user != user:
        problem = f"{where}: {settings.me_user_field} {me_user!r}, expected {user!r}"
    return replace(login, token_received=True, me_status=me.status, me_ms=me.latency_ms, me_user=me_user,
                   problem=problem)  # fmt: skip


def _json_field(answer: Response, field: str) -> object:
    body = answer.json_body()
    return body.get(field) if isinstance(body, dict) else None
