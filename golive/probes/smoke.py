"""SMK-01: the smoke account logs in, a session comes back (a bearer token in the answer, or a session cookie),
and an authenticated endpoint answers as that account.

The credentials go as JSON or as a form, under the field names the app expects. In cookie mode the client's cookie
jar carries the session as a browser would (domain, path and Secure honoured); the jar is emptied afterwards, so no
session outlives the check. Neither the password, the token nor the cookie's value ever appears in a result.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import httpx

from golive.config import SmokeSettings
from golive.outcomes import ProbeError
from golive.probes.http import describe_error
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


def _detail(answer: httpx.Response) -> str:
    try:
        body = answer.json()
    except ValueError:
        return answer.text[:120]
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return body["error"][:120]
    return answer.text[:120]


def _timed(client: httpx.Client, method: str, url: str, **kwargs: object) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    try:
        answer = client.request(method, url, **kwargs)  # type: ignore[arg-type]
    except httpx.HTTPError as exc:
        raise ProbeError(f"{method} {url}: {describe_error(exc)}") from None
    return answer, round((time.perf_counter() - started) * 1000, 1)


def _token(answer: httpx.Response, field: str) -> str | None:
    token = _json_field(answer, field) if answer.status_code == 200 else None
    return token if isinstance(token, str) and token else None


def _session_problem(answer: httpx.Response, settings: SmokeSettings, where: str) -> str | None:
    """Why the login answer carries no session, against what was expected (None: it does)."""
    status = answer.status_code
    said = f" ({_detail(answer)!r})" if status >= 400 else ""
    if settings.session == "token":
        if _token(answer, settings.token_field) is None:
            return (f"{where}: status {status}{said}, no {settings.token_field!r} in the answer; expected status 200 "
                    f"with a {settings.token_field!r}")  # fmt: skip
        return None
    wanted = f"session cookie {settings.cookie_name!r}" if settings.cookie_name else "a session cookie"
    names = [cookie.name for cookie in answer.cookies.jar]
    if not 200 <= status < 400 or (settings.cookie_name not in names if settings.cookie_name else not names):
        got = f"cookies {', '.join(names)}" if names else "no cookie"
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
    client.cookies.clear()
    try:
        answer, login_ms = _timed(client, "POST", login_url, **sent)
        login = LoginResult(login_url, me_url, answer.status_code, login_ms, False, session=settings.session)
        problem = _session_problem(answer, settings, f"POST {login_url} as {user}")
        if problem is not None:
            return replace(login, problem=problem)
        if settings.session == "token":
            client.cookies.clear()  # the token alone must authenticate
            headers, via = {"Authorization": f"Bearer {_token(answer, settings.token_field)}"}, "token"
        else:
            headers, via = {}, f"session cookie {settings.cookie_name or next(iter(answer.cookies.jar)).name!r}"
        me, me_ms = _timed(client, "GET", me_url, headers=headers)
    finally:
        client.cookies.clear()  # no session outlives the check
    found = _json_field(me, settings.me_user_field)
    me_user = found if isinstance(found, str) else None
    where = f"GET {me_url} with the login's {via}"
    problem = None
    if me.status_code != 200:
        problem = f"{where}: status {me.status_code} ({_detail(me)!r}), expected 200"
    elif me_user != user:
        problem = f"{where}: {settings.me_user_field} {me_user!r}, expected {user!r}"
    return replace(login, token_received=True, me_status=me.status_code, me_ms=me_ms, me_user=me_user, problem=problem)


def _json_field(answer: httpx.Response, field: str) -> object:
    try:
        body = answer.json()
    except ValueError:
        return None
    return body.get(field) if isinstance(body, dict) else None
