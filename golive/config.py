"""Configuration: the environment file (non-secret target settings) and the variables (secrets).

``--env NAME`` selects ``environments/NAME.toml`` (or a path to a TOML file). String values may refer to
process environment variables as ``${NAME}``. Secrets never live in the file: they come only from
environment variables with the seed's names and are held as :class:`~golive.secrets.Secret`.
Every validation error is one line naming the file, the key and what was expected, never a value.
"""

from __future__ import annotations

import getpass
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FilePath,
    HttpUrl,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from golive.secrets import REGISTRY, Secret, SecretRegistry

# The seed's required variables (section 1).
SEED_VARIABLES: tuple[str, ...] = (
    "DATABASE_URL",
    "RAZORPAY_KEY_ID",
    "RAZORPAY_KEY_SECRET",
    "RAZORPAY_WEBHOOK_SECRET",
    "ALERT_WEBHOOK_URL",
    "SENTRY_DSN",
    "NODE_ENV",
)
# Optional variables golive reads when they are set.
OPTIONAL_VARIABLES: tuple[str, ...] = (
    "DATABASE_REPLICA_URL",
    "SENTRY_AUTH_TOKEN",
    "PAGERDUTY_ROUTING_KEY",
    "SMOKE_USER",
    "SMOKE_PASSWORD",
)
# Variables whose values are not secret (they may appear in reports).
PUBLIC_VARIABLES: frozenset[str] = frozenset({"NODE_ENV", "SMOKE_USER"})

ENVIRONMENTS_DIR = "environments"
_VAR_NAME = r"[A-Z_][A-Z0-9_]*"
_INTERPOLATION = re.compile(r"\$\{(" + _VAR_NAME + r")\}")


class ConfigError(Exception):
    """Invalid configuration: a one-line reason naming the setting."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HttpSettings(_Section):
    timeout_s: PositiveFloat = 5.0
    connect_timeout_s: PositiveFloat = 3.0
    ca_bundle: FilePath | None = None


class AppSettings(_Section):
    base_url: HttpUrl
    canary_url: HttpUrl | None = None
    instances: list[HttpUrl] = Field(default_factory=list)
    health_path: str = "/api/health"
    health_db_path: str = "/api/health/db"


JsonScalar = str | int | float | bool


class HealthPolicy(_Section):
    expect_status: Annotated[int, Field(ge=100, le=599)] = 200
    expect_body: dict[str, JsonScalar] = Field(default_factory=lambda: {"status": "ok"})
    db_expect_body: dict[str, JsonScalar] = Field(default_factory=lambda: {"status": "ok"})
    latency_budget_ms: PositiveInt = 1000


CredentialFormat = Literal["url", "token", "email", "aws-access-key-id", "aws-secret-access-key"]


class Credential(_Section):
    """Another service credential the app uses (ENV-03): its variable, purpose and expected shape."""

    name: Annotated[str, Field(pattern=f"^{_VAR_NAME}$")]
    purpose: str
    format: CredentialFormat = "token"
    min_length: PositiveInt = 8


class VariableSettings(_Section):
    required: list[Annotated[str, Field(pattern=f"^{_VAR_NAME}$")]] = Field(
        default_factory=lambda: list(SEED_VARIABLES)
    )
    node_env: str = "production"
    min_secret_length: PositiveInt = 16


class RazorpaySettings(_Section):
    key_mode: Literal["live", "test"] | None = None
    api_url: HttpUrl = HttpUrl("https://api.razorpay.com")


class SentrySettings(_Section):
    org: str | None = None
    project: str | None = None
    api_url: HttpUrl = HttpUrl("https://sentry.io")
    confirm_timeout_s: PositiveFloat = 30.0
    poll_interval_s: PositiveFloat = 1.0

    @model_validator(mode="after")
    def _org_and_project_together(self) -> SentrySettings:
        if (self.org is None) != (self.project is None):
            raise ValueError("org and project must be set together")
        return self


class AlertSettings(_Section):
    runbook_url: HttpUrl | None = None
    pagerduty_url: HttpUrl = HttpUrl("https://events.pagerduty.com/v2/enqueue")


class SideEffectSettings(_Section):
    allowed: bool = False


Tier = Literal["sandbox", "staging", "production"]


class Environment(_Section):
    """One environments/NAME.toml."""

    name: str
    tier: Tier
    strict: bool | None = None
    http: HttpSettings = HttpSettings()
    app: AppSettings
    health: HealthPolicy = HealthPolicy()
    variables: VariableSettings = VariableSettings()
    credentials: list[Credential] = Field(default_factory=list)
    razorpay: RazorpaySettings = RazorpaySettings()
    sentry: SentrySettings = SentrySettings()
    alerts: AlertSettings = AlertSettings()
    side_effects: SideEffectSettings = SideEffectSettings()
    # Sections of later checks are added below, one field per line (database, tls/cdn, payments, stages, release).

    @property
    def is_strict(self) -> bool:
        """Strict (default for production): anything not passed, attested or validly waived blocks go-live."""
        return self.tier == "production" if self.strict is None else self.strict

    @property
    def key_mode(self) -> Literal["live", "test"]:
        """The Razorpay key mode this environment must use: live in production, test elsewhere."""
        if self.razorpay.key_mode is not None:
            return self.razorpay.key_mode
        return "live" if self.tier == "production" else "test"


def _interpolate(value: Any, environ: Mapping[str, str], where: str) -> Any:
    if isinstance(value, dict):
        return {k: _interpolate(v, environ, f"{where}.{k}" if where else k) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, environ, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if not environ.get(name):
                raise ConfigError(f"{where}: refers to ${{{name}}}, which is not set")
            return environ[name]

        return _INTERPOLATION.sub(substitute, value)
    return value


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    loc = ".".join(str(part) for part in first["loc"]) or "(top level)"
    msg = first["msg"].removeprefix("Value error, ")
    more = error.error_count() - 1
    return f"{loc}: {msg}" + (f" (and {more} more)" if more else "")


def resolve_environment_path(ref: str, root: Path) -> Path:
    """``NAME`` -> ``<root>/environments/NAME.toml``; a path is taken as it is."""
    candidate = Path(ref)
    if candidate.suffix == ".toml" or os.sep in ref:
        path = candidate if candidate.is_absolute() else (Path.cwd() / candidate)
    else:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", ref):
            raise ConfigError(f"--env {ref!r}: expected an environment name or a path to a .toml file")
        path = root / ENVIRONMENTS_DIR / f"{ref}.toml"
    if not path.is_file():
        known = sorted(p.stem for p in (root / ENVIRONMENTS_DIR).glob("*.toml"))
        raise ConfigError(f"--env {ref}: no environment file at {path} (known: {', '.join(known) or 'none'})")
    return path


def parse_environment(text: str, source: str, environ: Mapping[str, str]) -> Environment:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    try:
        data = _interpolate(data, environ, "")
        return Environment.model_validate(data)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    except ValidationError as exc:
        raise ConfigError(f"{source}: {_describe(exc)}") from None


def load_environment(ref: str, root: Path, environ: Mapping[str, str] | None = None) -> Environment:
    path = resolve_environment_path(ref, root)
    return parse_environment(path.read_text(encoding="utf-8"), str(path), os.environ if environ is None else environ)


class Variables:
    """The variables a run reads: raw values exactly as set (whitespace kept, so ENV-02 can flag it)."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = dict(values)

    @classmethod
    def read(cls, env: Environment, environ: Mapping[str, str] | None = None) -> Variables:
        source = os.environ if environ is None else environ
        names = {*env.variables.required, *OPTIONAL_VARIABLES, *(c.name for c in env.credentials)}
        return cls({name: source[name] for name in names if name in source})

    def register(self, registry: SecretRegistry = REGISTRY) -> None:
        for name, value in self._values.items():
            if name not in PUBLIC_VARIABLES:
                registry.add(name, value)

    def present(self, name: str) -> bool:
        return bool(self._values.get(name, "").strip())

    def secret(self, name: str) -> Secret | None:
        """The variable as a masked secret, or None when unset or blank."""
        return Secret(name, self._values[name]) if self.present(name) else None

    def public(self, name: str) -> str | None:
        """A variable whose value is not secret (NODE_ENV, SMOKE_USER)."""
        if name not in PUBLIC_VARIABLES:
            raise KeyError(f"{name} is a secret; use secret()")
        return self._values.get(name)


class RunSettings(BaseSettings):
    """Who runs what: release identity, operator, run id (GOLIVE_* variables, GitLab's CI_* as fallback)."""

    model_config = SettingsConfigDict(env_prefix="GOLIVE_", extra="ignore", frozen=True)

    env: str | None = None
    release_tag: str | None = None
    release_commit: str | None = None
    release_digest: str | None = None
    operator: str | None = None
    run_id: str | None = None


class Release(BaseModel):
    model_config = ConfigDict(frozen=True)

    tag: str
    commit: str
    digest: str


def release_from(settings: RunSettings, environ: Mapping[str, str]) -> Release:
    return Release(
        tag=settings.release_tag or environ.get("CI_COMMIT_TAG") or "unreleased",
        commit=settings.release_commit or environ.get("CI_COMMIT_SHA") or "unknown",
        digest=settings.release_digest or "unknown",
    )


def operator_from(settings: RunSettings, environ: Mapping[str, str]) -> str:
    """Who runs the check: GOLIVE_OPERATOR, GitLab's user login, or the local account."""
    if settings.operator or environ.get("GITLAB_USER_LOGIN"):
        return settings.operator or environ["GITLAB_USER_LOGIN"]
    try:
        return getpass.getuser()
    except OSError:
        return "unknown"
