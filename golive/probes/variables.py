"""Environment variables: presence (ENV-01), shape and consistency (ENV-02), other credentials (ENV-03).

Findings name the variable and what is wrong, never its value. Where a value is safe to show in part
(the scheme and host of a URL, a key's mode prefix) the evidence shows only that part.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import SplitResult, unquote, urlsplit

from golive.config import OPTIONAL_VARIABLES, PUBLIC_VARIABLES, Credential, Environment, Variables
from golive.secrets import MIN_SCAN_LENGTH, MISREAD, Secret, password_misread

RAZORPAY_KEY_ID = re.compile(r"^rzp_(live|test)_[A-Za-z0-9]{14}$")
SENTRY_KEY = re.compile(r"^[0-9a-f]{32}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
AWS_ACCESS_KEY_ID = re.compile(r"^(AKIA|ASIA)[A-Z0-9]{16}$")
AWS_SECRET_ACCESS_KEY = re.compile(r"^[A-Za-z0-9/+=]{40}$")


@dataclass(frozen=True)
class Finding:
    """One variable's verdict: ``problem`` is None when it is fine; ``shown`` is a safe description."""

    name: str
    shown: str
    problem: str | None = None


def missing_variables(variables: Variables, required: list[str]) -> list[str]:
    """Required variables that are unset or blank (ENV-01)."""
    return [name for name in required if not variables.present(name)]


def _split(value: str) -> SplitResult | None:
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises on a non-numeric port
    except ValueError:
        return None
    return parts if parts.scheme and parts.hostname else None


def _where(parts: SplitResult) -> str:
    """scheme://host[:port] — never the user, password, path or query (Slack webhook paths are secret)."""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}"


def _whitespace(name: str, value: str) -> str | None:
    if value != value.strip():
        side = "leading" if value[:1].isspace() else "trailing"
        return f"{name} has {side} whitespace (often pasted from a secret manager with a newline)"
    if any(ch.isspace() for ch in value):
        return f"{name} contains whitespace inside the value"
    return None


def _database_url(value: str, env: Environment) -> Finding:
    if password_misread(value):
        return Finding("DATABASE_URL", "(password misread)", f"DATABASE_URL: {MISREAD}")
    parts = _split(value)
    if parts is None or parts.scheme not in ("postgres", "postgresql"):
        return Finding("DATABASE_URL", "(unparseable)", "DATABASE_URL is not a postgresql://user:password@host/db URL")
    database = parts.path.lstrip("/")
    shown = f"{_where(parts)}/{database}"
    if not database:
        return Finding("DATABASE_URL", shown, "DATABASE_URL names no database (expected .../DBNAME)")
    if not parts.username:
        return Finding("DATABASE_URL", shown, "DATABASE_URL names no user")
    sslmode = dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p).get("sslmode", "prefer")
    if env.tier == "production" and sslmode not in ("require", "verify-ca", "verify-full"):
        return Finding(
            "DATABASE_URL",
            f"{shown} sslmode={sslmode}",
            f"DATABASE_URL sslmode={sslmode}; production needs require or stronger",
        )
    return Finding("DATABASE_URL", f"{shown} sslmode={sslmode}")


def _key_id(value: str, env: Environment) -> Finding:
    match = RAZORPAY_KEY_ID.match(value)
    if match is None:
        return Finding(
            "RAZORPAY_KEY_ID",
            "(unrecognised)",
            "RAZORPAY_KEY_ID is not rzp_live_/rzp_test_ followed by 14 letters or digits",
        )
    mode = match.group(1)
    shown = f"rzp_{mode}_... ({mode} mode)"
    if mode != env.key_mode:
        return Finding(
            "RAZORPAY_KEY_ID",
            shown,
            f"RAZORPAY_KEY_ID is a {mode}-mode key (rzp_{mode}_); "
            f"{env.name} expects {env.key_mode} mode (rzp_{env.key_mode}_)",
        )
    return Finding("RAZORPAY_KEY_ID", shown)


def _https_url(name: str, value: str, require_https: bool) -> Finding:
    parts = _split(value)
    if parts is None or parts.scheme not in ("http", "https"):
        return Finding(name, "(unparseable)", f"{name} is not an http(s) URL with a host")
    if require_https and parts.scheme != "https":
        return Finding(name, _where(parts), f"{name} uses {parts.scheme}; expected https")
    return Finding(name, _where(parts))


def _sentry_dsn(value: str) -> Finding:
    parts = _split(value)
    if parts is None or parts.scheme not in ("http", "https"):
        return Finding("SENTRY_DSN", "(unparseable)", "SENTRY_DSN is not https://PUBLIC_KEY@HOST/PROJECT_ID")
    project = parts.path.rstrip("/").rsplit("/", 1)[-1]
    shown = f"{_where(parts)} project {project}"
    if not parts.username or not SENTRY_KEY.match(parts.username):
        return Finding("SENTRY_DSN", shown, "SENTRY_DSN has no 32-hex public key before the @")
    if not project.isdigit():
        return Finding("SENTRY_DSN", shown, "SENTRY_DSN does not end in a numeric project id")
    if parts.scheme != "https":
        return Finding("SENTRY_DSN", shown, "SENTRY_DSN uses http; expected https")
    return Finding("SENTRY_DSN", shown)


def _secret_strength(name: str, value: str, minimum: int) -> Finding:
    if len(value) < minimum:
        return Finding(
            name, f"{len(value)} characters", f"{name} is {len(value)} characters long; expected at least {minimum}"
        )
    return Finding(name, f"{len(value)} characters")


def _short_password(name: str, value: str) -> Finding | None:
    """A URL's password too short for the scrubber to tell from ordinary text (golive.secrets.MIN_SCAN_LENGTH): it
    is never registered, so nothing would keep it out of the reports. Names the variable, never the value."""
    parts = _split(value)
    length = len(unquote(parts.password or "")) if parts is not None else 0
    if parts is None or not 0 < length < MIN_SCAN_LENGTH:
        return None
    return Finding(
        name,
        f"{_where(parts)} (password of {length} characters)",
        f"{name} has a password of {length} characters; expected at least {MIN_SCAN_LENGTH} "
        "(a shorter one cannot be told apart from ordinary text and kept out of the reports)",
    )


def validate_variables(variables: Variables, env: Environment) -> list[Finding]:
    """ENV-02: each present variable well-formed and consistent with the environment.

    Absent variables are ENV-01's finding: they are listed here as absent, without a problem of their own.
    """
    findings: list[Finding] = []
    for name in env.variables.required:
        secret = variables.secret(name)
        if secret is None:
            findings.append(Finding(name, "absent (see ENV-01)"))
            continue
        value = secret.reveal()
        blank = _whitespace(name, value)
        if blank:
            findings.append(Finding(name, "(whitespace)", blank))
            continue
        seed = _seed_variable(name, value, variables, env)
        findings.append((seed.problem is None and _short_password(name, value)) or seed)
    for name in (n for n in OPTIONAL_VARIABLES if n not in PUBLIC_VARIABLES):
        secret = variables.secret(name)
        value = secret.reveal().strip() if secret is not None else ""
        if value and len(value) < MIN_SCAN_LENGTH:  # too short for the scrubber to tell from ordinary text
            findings.append(_secret_strength(name, value, MIN_SCAN_LENGTH))
        elif password_misread(value):  # DATABASE_REPLICA_URL, RESTORE_TARGET_URL
            findings.append(Finding(name, "(password misread)", f"{name}: {MISREAD}"))
        elif value and (short := _short_password(name, value)):  # DATABASE_REPLICA_URL, RESTORE_TARGET_URL
            findings.append(short)
    return findings


def _seed_variable(name: str, value: str, variables: Variables, env: Environment) -> Finding:
    minimum = env.variables.min_secret_length
    match name:
        case "DATABASE_URL":
            return _database_url(value, env)
        case "RAZORPAY_KEY_ID":
            return _key_id(value, env)
        case "RAZORPAY_KEY_SECRET":
            return _secret_strength(name, value, minimum)
        case "RAZORPAY_WEBHOOK_SECRET":
            key_secret = variables.secret("RAZORPAY_KEY_SECRET")
            if key_secret is not None and Secret(name, value) == Secret(name, key_secret.reveal()):
                return Finding(name, "(same as the key secret)", f"{name} equals RAZORPAY_KEY_SECRET; they must differ")
            return _secret_strength(name, value, minimum)
        case "ALERT_WEBHOOK_URL":
            return _https_url(name, value, require_https=True)
        case "SENTRY_DSN":
            return _sentry_dsn(value)
        case "NODE_ENV":
            if value != env.variables.node_env:
                return Finding(name, value, f"NODE_ENV is {value!r}; {env.name} expects {env.variables.node_env!r}")
            return Finding(name, value)
    return Finding(name, "set")


def validate_credential(credential: Credential, secret: Secret) -> Finding:
    """ENV-03: one declared credential has the expected shape."""
    name, value = credential.name, secret.reveal()
    blank = _whitespace(name, value)
    if blank:
        return Finding(name, "(whitespace)", blank)
    match credential.format:
        case "url":
            parts = _split(value)
            if parts is None:
                return Finding(
                    name, "(unparseable)", f"{name} ({credential.purpose}) is not a URL with a scheme and host"
                )
            return Finding(name, _where(parts))
        case "email":
            ok = bool(EMAIL.match(value))
            return Finding(name, "email", None if ok else f"{name} ({credential.purpose}) is not an email address")
        case "aws-access-key-id":
            ok = bool(AWS_ACCESS_KEY_ID.match(value))
            return Finding(
                name,
                "AWS access key id",
                None if ok else f"{name} ({credential.purpose}) is not AKIA/ASIA + 16 characters",
            )
        case "aws-secret-access-key":
            ok = bool(AWS_SECRET_ACCESS_KEY.match(value))
            return Finding(
                name,
                "AWS secret key",
                None if ok else f"{name} ({credential.purpose}) is not a 40-character AWS secret key",
            )
        case "token":
            return _secret_strength(name, value, credential.min_length)
