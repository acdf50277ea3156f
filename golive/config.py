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
import shlex
import ssl
import string
import tomllib
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    FilePath,
    HttpUrl,
    PositiveFloat,
    PositiveInt,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
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
    "UPTIMEROBOT_API_KEY",
    "GITLAB_API_TOKEN",
    "REGISTRY_TOKEN",
    "CDN_API_TOKEN",
    # golive restore-drill: a staging server to restore into (default: a temporary local PostgreSQL)
    "RESTORE_TARGET_URL",
    # the go-live stages' sources, when they require credentials
    "UNLEASH_API_TOKEN",
    "JOBS_API_TOKEN",
    "PROMETHEUS_TOKEN",
    "PROMETHEUS_PASSWORD",
    # an S3 or RDS backup source (database.backups): boto3 reads them itself, golive only masks them
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
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

    @field_validator("ca_bundle")
    @classmethod
    def _loads_as_pem(cls, path: Path | None) -> Path | None:
        if path is not None:
            try:
                ssl.create_default_context(cafile=str(path))
            except (ssl.SSLError, ValueError) as exc:
                raise ValueError(f"{path} is not a PEM certificate bundle ({exc})") from None
            except OSError as exc:  # no permission to read it, an I/O error
                raise ValueError(f"{path} cannot be read ({exc.strerror or exc})") from None
        return path


class AppSettings(_Section):
    base_url: HttpUrl
    canary_url: HttpUrl | None = None
    instances: list[HttpUrl] = Field(default_factory=list)
    health_path: str = "/api/health"
    health_db_path: str = "/api/health/db"

    @field_validator("base_url")
    @classmethod
    def _https(cls, url: HttpUrl) -> HttpUrl:
        if url.scheme != "https":
            raise ValueError(
                f"expected the public https:// URL, got {url.scheme}:// (TLS-01..03 scan its host; "
                "HTTP-01 tries plain http on it by itself)"
            )
        return url


JsonScalar = str | int | float | bool


class HealthPolicy(_Section):
    expect_status: Annotated[int, Field(ge=100, le=599)] = 200
    # At least one field: an empty expectation would let any 200 answer pass.
    expect_body: Annotated[dict[str, JsonScalar], Field(min_length=1)] = Field(default_factory=lambda: {"status": "ok"})
    db_expect_body: Annotated[dict[str, JsonScalar], Field(min_length=1)] = Field(
        default_factory=lambda: {"status": "ok"}
    )
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

    @field_validator("required")
    @classmethod
    def _keeps_the_seed(cls, required: list[str]) -> list[str]:
        dropped = [name for name in SEED_VARIABLES if name not in required]
        if dropped:
            raise ValueError(f"must keep the checklist's variables; missing {', '.join(dropped)}")
        return required


RAZORPAY_WEBHOOK_EVENTS = ("payment.captured", "payment.failed", "refund.processed", "order.paid")


class WebhookAttestation(_Section):
    """A person's confirmation of the Dashboard's webhook settings, for accounts without the webhooks API."""

    by: Annotated[str, Field(min_length=1, pattern=r"\S")]
    role: Annotated[str, Field(min_length=1, pattern=r"\S")]
    on: date
    note: str = ""


class RazorpaySettings(_Section):
    key_mode: Literal["live", "test"] | None = None
    api_url: HttpUrl = HttpUrl("https://api.razorpay.com")
    webhook_secret_min_length: PositiveInt = 20
    webhook_url: HttpUrl | None = None
    webhook_events: list[str] = Field(default_factory=lambda: list(RAZORPAY_WEBHOOK_EVENTS))
    webhook_attestation: WebhookAttestation | None = None
    webhook_attestation_max_age_days: PositiveInt = 30


SENTRY_RELEASE_FIELDS = ("tag", "commit")


class SentrySettings(_Section):
    org: str | None = None
    project: str | None = None
    api_url: HttpUrl = HttpUrl("https://sentry.io")
    confirm_timeout_s: PositiveFloat = 30.0
    poll_interval_s: PositiveFloat = 1.0
    # CAN-01: the release and environment the app's own Sentry SDK reports ("myapp@{tag}"); environment None: the
    # environment's name
    release: Annotated[str, Field(min_length=1)] = "{tag}"
    environment: Annotated[str, Field(min_length=1)] | None = None

    @field_validator("release")
    @classmethod
    def _release_template(cls, template: str) -> str:
        try:
            fields = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
        except ValueError as error:
            raise ValueError(f"not a template ({error}); write braces as {{{{ and }}}}") from None
        unknown = [name for name in fields if name not in SENTRY_RELEASE_FIELDS]
        if unknown:
            raise ValueError(f'names {{{unknown[0]}}}; expected {{tag}} or {{commit}} (e.g. "myapp@{{tag}}")')
        return template

    @property
    def release_uses_commit(self) -> bool:
        return any(name == "commit" for _, name, _, _ in string.Formatter().parse(self.release))

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


_Url = TypeVar("_Url", bound=HttpUrl | None)


def _https_only(url: _Url, secret: str) -> _Url:
    """A URL that ``secret`` is sent to: https only, never in clear over http."""
    if url is not None and url.scheme != "https":
        raise ValueError(f"expected an https:// URL ({secret} is sent to it), got {url.scheme}://")
    return url


class CiSettings(_Section):
    """REL-01: where the release commit's CI pipeline is (GitLab's API; token in GITLAB_API_TOKEN)."""

    gitlab_url: HttpUrl | None = None
    project: str | None = None
    required_suites: list[str] = Field(default_factory=lambda: ["unit", "integration"])

    @field_validator("gitlab_url")
    @classmethod
    def _https(cls, url: HttpUrl | None) -> HttpUrl | None:
        return _https_only(url, "GITLAB_API_TOKEN")


# An OCI distribution repository name (the distribution spec's grammar), e.g. "acme/web-app".
_REPOSITORY = re.compile(r"[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*")


class RegistrySettings(_Section):
    """REL-02, RB-01: the OCI distribution registry holding the release images (password in REGISTRY_TOKEN)."""

    url: HttpUrl
    repository: str
    username: str | None = None  # with REGISTRY_TOKEN: Basic auth and the registry's token service

    @field_validator("repository")
    @classmethod
    def _oci_name(cls, name: str) -> str:
        if not _REPOSITORY.fullmatch(name):
            raise ValueError(f"{name!r} is not an OCI repository name (lowercase path components: acme/web-app)")
        return name

    @field_validator("url")
    @classmethod
    def _https(cls, url: HttpUrl) -> HttpUrl:
        return _https_only(url, "REGISTRY_TOKEN")


class ReleaseSettings(_Section):
    """Where the release files live and how fresh people's confirmations must be."""

    dir: Path = Path("releases")
    repo: Path | None = None
    registry: RegistrySettings | None = None
    signoff_max_age_hours: PositiveInt = 72
    notification_max_age_hours: PositiveInt = 48
    training_max_age_days: PositiveInt = 30
    training_minutes: tuple[PositiveInt, PositiveInt] = (60, 90)
    attestation_max_age_days: PositiveInt = 14


class DirectoryBackups(_Section):
    """A directory of logical dumps, each dated from a timestamp in its name or its modification time."""

    kind: Literal["directory"] = "directory"
    path: Path
    pattern: str = "*"
    date_from: Literal["name", "mtime"] = "name"
    verify: Literal["full", "toc"] = "full"  # DB-02: pg_restore reads all of the latest dump, or its TOC only

    @property
    def where(self) -> str:
        return f"backup directory {self.path}"


class _AwsService(_Section):
    """An AWS API: the region (else AWS_REGION / the profile's), an endpoint for S3-compatible storage or a
    private endpoint, and the timeout of each call. Credentials come from the AWS variables, a profile or an
    instance role, never from the file."""

    region: Annotated[str, Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d+$")] | None = None
    endpoint_url: HttpUrl | None = None
    timeout_s: PositiveFloat = 10.0


class S3Backups(_AwsService):
    """Logical dumps under an S3 prefix, dated from a timestamp in the key's name or its LastModified."""

    kind: Literal["s3"]
    bucket: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")]
    prefix: str = ""
    pattern: str = "*"
    date_from: Literal["name", "last_modified"] = "name"
    verify: Literal["full", "toc"] = "full"  # "full" downloads the whole latest object on every run

    @property
    def where(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


class RdsBackups(_AwsService):
    """An RDS instance's automated backups: its snapshots, BackupRetentionPeriod and LatestRestorableTime (also
    DB-04's evidence of point-in-time recovery in place of the SQL settings RDS keeps to itself)."""

    kind: Literal["rds"]
    instance: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9-]{0,62}$")]

    @property
    def where(self) -> str:
        return f"RDS instance {self.instance}"


class PgbackrestBackups(_Section):
    """A pgBackRest stanza's backups (full, diff, incr) as ``pgbackrest info --output=json`` lists them: run as
    ``command`` (default ``pgbackrest info --output=json --stanza=STANZA``) within ``timeout_s``, or read from
    ``info_file``, a copy of that output a backup job saved."""

    kind: Literal["pgbackrest"]
    stanza: Annotated[str, Field(pattern=r"^[^\s/]+$")]
    command: str | None = None
    info_file: Path | None = None
    timeout_s: PositiveFloat = 30.0

    @field_validator("command")
    @classmethod
    def _splits_into_words(cls, command: str | None) -> str | None:
        if command is not None:
            try:
                words = shlex.split(command)
            except ValueError as exc:
                raise ValueError(f"not a command line ({exc})") from None
            if not words:
                raise ValueError("is empty; leave it out for pgbackrest info --output=json --stanza=STANZA")
        return command

    @model_validator(mode="after")
    def _command_or_file(self) -> PgbackrestBackups:
        if self.command is not None and self.info_file is not None:
            raise ValueError("set command or info_file, not both")
        return self

    @property
    def argv(self) -> list[str]:
        if self.command is not None:
            return shlex.split(self.command)
        return ["pgbackrest", "info", "--output=json", f"--stanza={self.stanza}"]

    @property
    def where(self) -> str:
        return f"pgBackRest stanza {self.stanza}"


def _backup_kind(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("kind", "directory"))
    return str(getattr(value, "kind", "directory"))


_BACKUP_KIND = Discriminator(
    _backup_kind,
    custom_error_type="backup_kind",
    custom_error_message="kind should be 'directory', 's3', 'rds' or 'pgbackrest'",
)
BackupSourceSettings = Annotated[
    Annotated[DirectoryBackups, Tag("directory")]
    | Annotated[S3Backups, Tag("s3")]
    | Annotated[RdsBackups, Tag("rds")]
    | Annotated[PgbackrestBackups, Tag("pgbackrest")],
    _BACKUP_KIND,
]


class MigrationSettings(_Section):
    """The migration dry-run (REL-03, REL-04, RB-02): SQL files or a migration command, the applied set, rows for
    the copy, the verdict's limits."""

    dir: Path | None = None
    command: str | None = None
    command_cwd: Path | None = None
    command_timeout_s: PositiveFloat = 300.0
    command_env: list[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]] = Field(default_factory=list)
    applied_table: str | None = None
    applied_column: str = "name"
    seed_rows: bool = False
    seed_max_rows: PositiveInt = 100_000
    large_table_rows: PositiveInt = 100_000
    statement_budget_ms: PositiveInt = 2_000
    max_transaction_age_s: PositiveFloat = 60.0

    @field_validator("command")
    @classmethod
    def _command_splits(cls, command: str | None) -> str | None:
        if command is not None:
            try:
                words = shlex.split(command)
            except ValueError as error:
                raise ValueError(f"command is not a valid command line ({error})") from None
            if not words:
                raise ValueError("command is empty")
        return command

    @field_validator("command_env")
    @classmethod
    def _not_the_copys(cls, names: list[str]) -> list[str]:
        ours = [name for name in names if name == "DATABASE_URL" or name.startswith("PG")]
        if ours:
            raise ValueError(f"{', '.join(ours)}: DATABASE_URL and PG* are set to the copy, not passed")
        return names

    @model_validator(mode="after")
    def _a_source(self) -> MigrationSettings:
        if self.dir is None and self.command is None:
            raise ValueError("set dir (SQL files) or command (the app's migration command)")
        if self.command is not None and self.applied_table is None:
            raise ValueError("command needs applied_table: the copy carries the migrator's record of what it applied")
        return self


class DatabaseSettings(_Section):
    """The target database: TLS, PITR, replicas, backups and the restore record (DB-01..05, LIVE-02, POST-01)."""

    connect_timeout_s: PositiveFloat = 5.0
    statement_timeout_ms: PositiveInt = 10_000
    min_sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] = "require"
    min_tls_version: Literal["TLSv1.2", "TLSv1.3"] = "TLSv1.2"
    archive_max_delay_s: PositiveInt = 600
    expected_replicas: list[str] = Field(default_factory=list)
    max_replay_lag_s: PositiveFloat = 30.0
    max_replay_lag_bytes: PositiveInt = 64 * 1024 * 1024
    max_receiver_silence_s: PositiveFloat = 60.0
    backups: BackupSourceSettings | None = None
    backup_max_age_h: PositiveFloat = 26.0
    retention_days: PositiveInt = 30
    prelaunch_window_h: PositiveFloat = 24.0
    restore_record: Path | None = None
    restore_max_age_days: PositiveFloat = 7.0
    restore_tables: list[Annotated[str, Field(pattern=r"^[^.\s]+(\.[^.\s]+)?$")]] = Field(default_factory=list)
    restore_row_tolerance: Annotated[float, Field(ge=0)] = 0.1
    tool_timeout_s: PositiveFloat = 120.0
    migrations: MigrationSettings | None = None


class PaymentCheck(_Section):
    """One query against the app's database and the value its first column must have (PAY-04)."""

    what: str
    query: str
    expect: JsonScalar


class PaymentSettings(_Section):
    """How golive drives the app's payment flows (PAY-03, PAY-04, SMK-02, SMK-03, POST-03)."""

    webhook_path: str = "/api/webhooks/razorpay"
    webhook_deadline_s: PositiveFloat = 5.0
    effect_query: str | None = None
    effect_url: str | None = None
    effect_pointer: str = "/amount"
    allow_production_events: bool = False
    order_path: str = "/api/orders"
    order_payload: dict[str, JsonScalar] = Field(
        default_factory=lambda: {"amount": 10000, "currency": "INR", "receipt": "golive-{run_id}"}
    )
    order_id_field: str = "razorpay_order_id"
    payment: Literal["sandbox", "existing"] | None = None
    test_payment_id: str | None = None
    refund_amount: PositiveInt = 100
    checks: list[PaymentCheck] = Field(default_factory=list)
    timeout_s: PositiveFloat = 30.0
    poll_interval_s: PositiveFloat = 0.5
    allow_live: bool = False
    live_amount_cap: PositiveInt | None = None

    @field_validator("effect_url")
    @classmethod
    def _effect_url_names_the_payment(cls, url: str | None) -> str | None:
        if url is not None:
            if "{payment_id}" not in url:
                raise ValueError("must contain {payment_id} (where the app's endpoint takes the payment id)")
            if not url.startswith(("/", "https://", "http://")):
                raise ValueError("expected a path under app.base_url (/...) or an http(s):// URL")
        return url

    @field_validator("effect_pointer")
    @classmethod
    def _json_pointer(cls, pointer: str) -> str:
        if pointer and not pointer.startswith("/"):
            raise ValueError("expected a JSON pointer such as /amount or /payment/amount (RFC 6901)")
        return pointer

    @model_validator(mode="after")
    def _existing_payment_named(self) -> PaymentSettings:
        if self.payment == "existing" and not self.test_payment_id:
            raise ValueError("payment = 'existing' needs test_payment_id (a test payment made once by a person)")
        if self.allow_live and self.live_amount_cap is None:
            raise ValueError("allow_live needs live_amount_cap (the most golive may charge, in paise)")
        if self.effect_query is not None and self.effect_url is not None:
            raise ValueError("set effect_query or effect_url, not both (where golive reads an event's effect)")
        return self


class CanaryPolicy(_Section):
    """CAN-01: how the canary is sampled against the baselines, and when the analysis stops (Argo/Kayenta style)."""

    initial_delay_s: Annotated[float, Field(ge=0)] = 30.0
    interval_s: PositiveFloat = 15.0
    window_s: PositiveFloat = 600.0
    probe_timeout_s: PositiveFloat = 5.0
    requests_per_interval: PositiveInt = 5
    extra_paths: list[str] = Field(default_factory=list)
    failure_limit: Annotated[int, Field(ge=0)] = 0
    consecutive_error_limit: Annotated[int, Field(ge=0)] = 1
    error_limit: Annotated[int, Field(ge=0)] = 1  # intervals with canary probe errors tolerated in the whole window
    inconclusive_limit: Annotated[int, Field(ge=0)] = 0
    min_samples: Annotated[int, Field(ge=3)] = 10
    max_error_rate_increase: Annotated[float, Field(ge=0, le=1)] = 0.01
    latency_confidence: Annotated[float, Field(gt=0.5, lt=1)] = 0.98
    latency_floor_ms: Annotated[float, Field(ge=0)] = 25.0
    latency_floor_ratio: Annotated[float, Field(ge=0)] = 0.25
    score_pass: Annotated[float, Field(ge=0, le=100)] = 95.0
    score_marginal: Annotated[float, Field(ge=0, le=100)] = 75.0
    error_events_limit: Annotated[int, Field(ge=0)] = 0  # the release's error events in Sentry during the window
    logs_required: bool = False  # without Sentry API access CAN-01 is then not verified (else only its logs part)
    decision_max_age_h: PositiveFloat = 24.0  # a person's decision on an inconclusive analysis ([canary]) is fresh

    @model_validator(mode="after")
    def _consistent(self) -> CanaryPolicy:
        if self.window_s < self.interval_s:
            raise ValueError("window_s must be at least interval_s")
        if self.score_marginal > self.score_pass:
            raise ValueError("score_marginal must not exceed score_pass")
        return self


class SmokeSettings(_Section):
    """SMK-01: the login flow the smoke account (SMOKE_USER/SMOKE_PASSWORD) goes through: the credentials' field
    names and encoding, and the session that comes back (a token in the answer, or a session cookie)."""

    login_path: str = "/api/login"
    me_path: str = "/api/me"
    login_format: Literal["json", "form"] = "json"
    username_field: Annotated[str, Field(min_length=1)] = "username"
    password_field: Annotated[str, Field(min_length=1)] = "password"
    session: Literal["token", "cookie"] = "token"
    token_field: Annotated[str, Field(min_length=1)] = "token"  # token: the answer's field holding the bearer token
    cookie_name: str | None = None  # cookie: the session cookie the login must set (None: any cookie)
    me_user_field: Annotated[str, Field(min_length=1)] = "username"  # me_path's field naming the account


class FlagSource(_Section):
    """LIVE-03: where the feature flags are read, in which format, and which flags this release names as risky."""

    url: HttpUrl | None = None
    format: Literal["unleash", "json"] = "unleash"
    risky: list[str] = Field(default_factory=list)


class JobSource(_Section):
    """LIVE-04 / POST-04: the jobs status endpoint and the non-critical jobs paused for this release."""

    url: HttpUrl | None = None
    pause: list[str] = Field(default_factory=list)
    paused_state: str = "paused"
    running_state: str = "running"  # POST-04: the state a resumed job reports (failed, stopped... are not running)


# `or vector(0)`: with no 5xx series at all Prometheus returns no sample for the sum, and a healthy service would
# read as "no data"
_ERROR_RATE = (
    '(sum(rate(http_requests_total{status=~"5.."}[{window}])) or vector(0)) / sum(rate(http_requests_total[{window}]))'
)
_LATENCY_P95 = "histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[{window}])))"


class MetricsSource(_Section):
    """OBS-05, POST-02: the Prometheus HTTP API, its queries ({window} becomes a range such as 3600s), tolerances."""

    prometheus_url: HttpUrl | None = None
    basic_auth_user: str | None = None  # with PROMETHEUS_PASSWORD; else PROMETHEUS_TOKEN as a bearer, if set
    error_rate_query: str = _ERROR_RATE
    latency_p95_query: str = _LATENCY_P95
    request_rate_query: str = "sum(rate(http_requests_total[{window}]))"
    baseline_window_s: PositiveInt = 3600
    min_requests: PositiveInt = 100
    observe_s: PositiveFloat = 300.0
    baseline_offset_s: PositiveFloat = 3600.0
    error_rate_factor: Annotated[float, Field(ge=1)] = 1.5
    error_rate_margin: Annotated[float, Field(ge=0, le=1)] = 0.005
    latency_factor: Annotated[float, Field(ge=1)] = 1.5
    latency_margin_ms: Annotated[float, Field(ge=0)] = 50.0


class UptimeAttestation(_Section):
    """OBS-03 without a monitor API: who confirmed which monitors check the health endpoints, and when."""

    by: Annotated[str, Field(min_length=1, pattern=r"\S")]
    role: Annotated[str, Field(min_length=1, pattern=r"\S")]
    on: date
    monitors: Annotated[list[HttpUrl], Field(min_length=1)]  # the URLs the monitor checks, as it shows them
    note: str = ""


class UptimeSource(_Section):
    """OBS-03: the uptime monitor's API (UPTIMEROBOT_API_KEY) and the paths it must check (default: both health),
    or, without an API, a person's attestation of the monitors."""

    provider: Literal["uptimerobot"] | None = None
    api_url: HttpUrl = HttpUrl("https://api.uptimerobot.com")
    paths: list[str] = Field(default_factory=list)
    attestation: UptimeAttestation | None = None
    attestation_max_age_days: PositiveInt = 30


class RolloutSettings(_Section):
    """CAN-02: besides app.instances, every address behind this URL's DNS name (with the name as SNI and Host)."""

    service_url: HttpUrl | None = None


class StageOrderSettings(_Section):
    """A later stage starts only after the previous one passed for the same release (golive/stage_order.py)."""

    enforce: bool | None = None  # default: enforced everywhere but the sandbox
    max_age_h: PositiveFloat = 24.0


class StageSettings(_Section):
    """The go-live stages: canary analysis, rolling deploy, smoke login, flags and jobs (issue 6)."""

    version_field: str = "version"
    commit_field: str = "commit"
    canary: CanaryPolicy = CanaryPolicy()
    smoke: SmokeSettings = SmokeSettings()
    flags: FlagSource = FlagSource()
    jobs: JobSource = JobSource()
    order: StageOrderSettings = StageOrderSettings()
    metrics: MetricsSource = MetricsSource()
    uptime: UptimeSource = UptimeSource()
    rollout: RolloutSettings = RolloutSettings()


_ENDPOINT = r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?$"


class TlsSettings(_Section):
    """HTTPS and certificates (TLS-01..04): which domains, the thresholds, HTTP on port 80, HSTS, webhooks."""

    domains: list[Annotated[str, Field(pattern=_ENDPOINT)]] = Field(default_factory=list)
    min_days_left: PositiveInt = 21
    renew_before_days: PositiveInt | None = None
    renew_at_fraction: Annotated[float, Field(gt=0, lt=1)] = 2 / 3
    intermediate_renew_before_days: PositiveInt = 30
    min_rsa_bits: PositiveInt = 2048
    min_ec_bits: PositiveInt = 256
    http_port: Annotated[int, Field(ge=1, le=65535)] = 80
    hsts_min_age_s: PositiveInt = 31_536_000
    hsts_include_subdomains: bool = False
    webhook_urls: list[HttpUrl] = Field(default_factory=list)
    webhook_record_query: str = "select count(*) from webhook_events where event_id = %s"
    webhook_settle_s: Annotated[float, Field(ge=0, le=30)] = 2.0
    # what the edge answers a plain-HTTP webhook instead of forwarding it (any other answer came from a handler)
    webhook_refusal_statuses: list[Annotated[int, Field(ge=400, le=599)]] = Field(default_factory=lambda: [403, 426])
    concurrency: Annotated[int, Field(ge=1, le=256)] = 16

    @model_validator(mode="after")
    def _ports_in_range(self) -> TlsSettings:
        for domain in self.domains:
            port = domain.rpartition("]")[2] if domain.startswith("[") else domain
            if ":" in port and not 0 < int(port.rpartition(":")[2]) < 65536:
                raise ValueError(f"domains: {domain!r} has a port outside 1-65535")
        return self


class CdnPurgeSettings(_Section):
    """How the CDN's cache is invalidated (CDN-02): provider, scope, API and zone; the token is CDN_API_TOKEN."""

    provider: Literal["cloudflare", "fastly", "cloudfront", "akamai", "other"]
    scope: Literal["url", "prefix", "tag", "everything"] = "url"
    api_url: HttpUrl = HttpUrl("https://api.cloudflare.com")
    zone_id: str | None = None
    canary_path: str | None = None
    canary_tag: str | None = None

    @field_validator("api_url")
    @classmethod
    def _https(cls, url: HttpUrl) -> HttpUrl:
        return _https_only(url, "CDN_API_TOKEN")


class CdnSettings(_Section):
    """Static assets through the CDN and the reviewed cache rules (CDN-01, CDN-02)."""

    base_url: HttpUrl | None = None
    assets: list[str] = Field(default_factory=list)
    html_paths: list[str] = Field(default_factory=lambda: ["/"])
    markers: list[str] = Field(
        default_factory=lambda: ["Via", "X-Cache", "CF-Cache-Status", "X-Served-By", "Age", "X-Amz-Cf-Id"]
    )
    asset_min_max_age_days: PositiveInt = 30
    require_immutable: bool = True
    html_max_shared_age_s: Annotated[int, Field(ge=0)] = 300
    # a content hash before the extension (and CRA's ".chunk"): hex or base64url, 8+ characters, at least one digit
    # or capital (app.3f9c2b1e.js, index-BZ0dSZAf.js, main.8f3a2b1c.chunk.js; not app.production.js)
    fingerprint_pattern: str = r"[.-](?=[A-Za-z0-9_-]*[A-Z0-9])[A-Za-z0-9_-]{8,}(?:\.chunk)?\.[A-Za-z0-9]+$"
    hit_retries: Annotated[int, Field(ge=0, le=10)] = 2
    concurrency: Annotated[int, Field(ge=1, le=64)] = 8
    purge: CdnPurgeSettings | None = None

    @field_validator("fingerprint_pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"not a regular expression ({exc})") from None
        return pattern


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
    stages: StageSettings = StageSettings()
    payments: PaymentSettings = PaymentSettings()
    database: DatabaseSettings = DatabaseSettings()
    release: ReleaseSettings = ReleaseSettings()
    ci: CiSettings = CiSettings()
    tls: TlsSettings = TlsSettings()  # and cdn: HTTPS, certificates and CDN (TLS-01..04, CDN-01/02)
    cdn: CdnSettings = CdnSettings()

    @field_validator("database")
    @classmethod
    def _production_database_over_tls(cls, database: DatabaseSettings, info: ValidationInfo) -> DatabaseSettings:
        if info.data.get("tier") == "production" and database.min_sslmode in ("disable", "allow", "prefer"):
            raise ValueError(
                f"min_sslmode = {database.min_sslmode!r} would let production's DATABASE_URL go unencrypted; "
                "expected require, verify-ca or verify-full"
            )
        return database

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
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    return parse_environment(text, str(path), os.environ if environ is None else environ)


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
    pipeline: str | None = None  # CI_PIPELINE_ID: the pipeline this run is part of, when GitLab CI runs it


def release_from(settings: RunSettings, environ: Mapping[str, str]) -> Release:
    return Release(
        tag=settings.release_tag or environ.get("CI_COMMIT_TAG") or "unreleased",
        commit=settings.release_commit or environ.get("CI_COMMIT_SHA") or "unknown",
        digest=settings.release_digest or "unknown",
        pipeline=environ.get("CI_PIPELINE_ID") or None,
    )


def operator_from(settings: RunSettings, environ: Mapping[str, str]) -> str:
    """Who runs the check: GOLIVE_OPERATOR, GitLab's user login, or the local account."""
    if settings.operator or environ.get("GITLAB_USER_LOGIN"):
        return settings.operator or environ["GITLAB_USER_LOGIN"]
    try:
        return getpass.getuser()
    except OSError:
        return "unknown"
