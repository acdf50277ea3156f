"""SMK-01: the smoke account logs in, a session token comes back, and an authenticated endpoint answers."""

from __future__ import annotations

import time
from dataclasses import dataclass

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
    token_received: bool
    me_status: int | None = None
    me_ms: float | None = None
    me_user: str | None = None
    problem: str | None = None

    def measured(self) -> dict[str, str | int | float | bool | None]:
        return {"login_status": self.login_status, "login_ms": self.login_ms, "token": self.token_received,
                "me_status": self.me_status, "me_ms": self.me_ms, "me_user": self.me_user}  # fmt: skip


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


def smoke_login(
    client: httpx.Client, base_url: str, settings: SmokeSettings, user: str, password: Secret
) -> LoginResult:
    """POST the smoke account's credentials, then GET the authenticated endpoint with the token that came back.

    Neither the password nor the token ever appears in the result.
    """
    base = base_url.rstrip("/")
    login_url, me_url = base + settings.login_path, base + settings.me_path
    answer, login_ms = _timed(client, "POST", login_url, json={"username": user, "password": password.reveal()})
    token = None
    if answer.status_code == 200:
        try:
            body = answer.json()
        except ValueError:
            body = None
        token = body.get(settings.token_field) if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        got = f"status {answer.status_code}" + (f" ({_detail(answer)!r})" if answer.status_code != 200 else "")
        problem = (
            f"POST {login_url} as {user}: {got}, no {settings.token_field!r} in the answer; "
            f"expected status 200 with a {settings.token_field!r}"
        )
        return LoginResult(login_url, me_url, answer.status_code, login_ms, False, problem=problem)
    me, me_ms = _timed(client, "GET", me_url, headers={"Authorization": f"Bearer {token}"})
    me_user = None
    try:
        me_body = me.json()
        me_user = me_body.get("username") if isinstance(me_body, dict) else None
    except ValueError:
        pass
    problem = None
    if me.status_code != 200:
        problem = f"GET {me_url} with the login's token: status {me.status_code} ({_detail(me)!r}), expected 200"
    elif me_user != user:
        problem = f"GET {me_url} with the login's token: username {me_user!r}, expected {user!r}"
    return LoginResult(login_url, me_url, answer.status_code, login_ms, True, me.status_code, me_ms, me_user, problem)
