"""Secrets: a masked holder, and the registry every report is scrubbed and leak-scanned against.

A secret value must never reach a report, a log line, a failure message or captured output, neither plain
nor encoded. Checks hold secrets as :class:`Secret` (masked repr/str); the report plugin replaces any
registered value that still slips into text, and the final leak scan looks for each value plain,
URL-encoded and base64-encoded (at every byte alignment, as it would sit inside a longer base64 blob).
"""

from __future__ import annotations

import base64
import hmac
import html
import json
import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, quote_plus, unquote, urlsplit

MASK = "****"
# Values shorter than this are not scanned for: they would match ordinary text (and ENV-02 flags them).
MIN_SCAN_LENGTH = 6
# base64 fragments shorter than this would match ordinary base64 data by chance.
MIN_B64_FRAGMENT = 10
# Path segments at least this long are secret on their own (tokens in webhook URLs), shorter ones are words.
MIN_SEGMENT = 16


class Secret:
    """A secret value whose repr and str are masked. ``reveal()`` is the only way to read it."""

    __slots__ = ("_value", "name")

    def __init__(self, name: str, value: str) -> None:
        self.name = name
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({self.name}={MASK})"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self.name))

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a Secret is not serialisable")

    def __len__(self) -> int:
        return len(self._value)


def url_secrets(url: str) -> set[str]:
    """The parts of a URL that are secret on their own: the password, a long user name without a password (a
    Sentry DSN's key), and long path segments (a Slack webhook's token), also percent-decoded. Parsed
    leniently: a malformed URL is still a secret. A PostgreSQL URL's password is also taken as libpq reads it, as
    urlsplit does and as written up to the last '@' before the query: with an unencoded '@', '/', '?' or '#' in it,
    they differ, and each reading is secret."""
    _scheme, sep, rest = url.strip().partition("://")
    if not sep:
        return set()
    authority, _, tail = rest.partition("/")
    userinfo, at, _host = authority.rpartition("@")
    user, _, password = userinfo.partition(":") if at else ("", "", "")
    if password or len(user) < MIN_SEGMENT:
        user = ""  # a user name beside a password is a name; alone and long it is the key (a Sentry DSN's)
    segments = [segment for segment in tail.partition("?")[0].split("/") if len(segment) >= MIN_SEGMENT]
    readings = _postgres_passwords(url) - {None}
    return {form for part in (user, password, *segments, *readings) if part for form in (part, unquote(part))}


def _postgres_passwords(url: str) -> set[str | None]:
    """The passwords a PostgreSQL URL can be read to hold (empty for another URL): libpq's (it splits at the
    first '@', and a '/' before any '@' ends the user part), urlsplit's (the authority ends at the first '/', '?'
    or '#', split at its last '@') and the writer's (up to the last '@' before the query), percent-decoded; None
    for a reading without a password."""
    text = url.strip()
    if not text.startswith(("postgres://", "postgresql://")):
        return set()
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict

    try:
        libpq = conninfo_to_dict(text).get("password")
    except ProgrammingError:
        libpq = None
    parser = urlsplit(text).password
    writer = text.partition("://")[2].partition("?")[0].rpartition("@")[0].partition(":")[2]
    return {None if libpq is None else str(libpq), *(unquote(p) if p else None for p in (parser, writer))}


MISREAD = (
    "password not percent-encoded (write @ as %40, / as %2F, ? as %3F, # as %23): libpq would take part of it "
    "for the host, port or database"
)


def password_misread(url: str) -> bool:
    """Whether libpq would read a PostgreSQL URL's password differently from how it is written: an unencoded
    '@', '/', '?' or '#' in it moves part of the password into the host, port or database (which messages then
    show) and the rest is sent as the password."""
    return len(_postgres_passwords(url)) > 1


def _b64_fragments(raw: bytes) -> set[str]:
    """Substrings that appear in any base64 encoding of a text containing ``raw``, whatever its offset."""
    fragments: set[str] = set()
    for pad in range(3):
        encoded = base64.b64encode(b"\0" * pad + raw + b"\0\0").decode()
        first = -(-8 * pad // 6)  # first character made only of the secret's bits
        last = (8 * (pad + len(raw))) // 6  # one past the last such character
        fragment = encoded[first:last]
        if len(fragment) >= MIN_B64_FRAGMENT:
            fragments.add(fragment)
            fragments.add(fragment.replace("+", "-").replace("/", "_"))
    return fragments


@dataclass(frozen=True)
class Leak:
    """A secret found in an artifact: which secret, which encoding, where. Never the value."""

    secret: str
    encoding: str
    where: str

    def __str__(self) -> str:
        return f"{self.where}: the value of {self.secret} appears ({self.encoding})"


class SecretRegistry:
    """Every secret value known to this run, with the encodings to scrub and to scan for."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, str] = {}  # value -> secret name

    def add(self, name: str, value: str | None) -> None:
        if not value:
            return
        candidates = {value, value.strip(), *url_secrets(value)}
        with self._lock:
            for candidate in candidates:
                if len(candidate) >= MIN_SCAN_LENGTH:
                    self._values.setdefault(candidate, name)

    def add_secret(self, secret: Secret | None) -> None:
        if secret is not None:
            self.add(secret.name, secret.reveal())

    def names(self) -> list[str]:
        with self._lock:
            return sorted(set(self._values.values()))

    def _variants(self) -> Iterator[tuple[str, str, str]]:
        """(needle, secret name, encoding) for every form a value can take in text."""
        with self._lock:
            items = list(self._values.items())
        for value, name in items:
            yield value, name, "plain"
            for encoded in {quote(value, safe=""), quote_plus(value, safe="")} - {value}:
                yield encoded, name, "URL-encoded"
            as_json = json.dumps(value)[1:-1]
            for escaped in {html.escape(value), as_json, html.escape(as_json), json.dumps(html.escape(value))[1:-1]}:
                if escaped != value:
                    yield escaped, name, "escaped"
            for fragment in _b64_fragments(value.encode()):
                yield fragment, name, "base64"

    def scrub(self, text: str) -> str:
        """Replace every registered value, in every form it can take, with a labelled mask.

        A base64 fragment is replaced inside its blob too: the blob no longer decodes, which is the point.
        """
        if not text:
            return text
        for needle, name, _encoding in sorted(self._variants(), key=lambda v: -len(v[0])):
            if needle in text:
                text = text.replace(needle, f"[{name} {MASK}]")
        return text

    def scan_text(self, text: str, where: str) -> list[Leak]:
        leaks = []
        for needle, name, encoding in self._variants():
            if needle in text:
                leaks.append(Leak(secret=name, encoding=encoding, where=where))
        return leaks

    def scan_files(self, paths: Iterable[Path]) -> list[Leak]:
        leaks: list[Leak] = []
        for path in paths:
            text = path.read_bytes().decode("utf-8", errors="replace")
            # HTML and JSON may escape '/' or '+' and friends; scan the unescaped form too.
            unescaped = re.sub(r"\\u002[bB]", "+", text.replace("\\/", "/"))
            found = {(leak.secret, leak.encoding) for leak in self.scan_text(text, str(path))}
            found |= {(leak.secret, leak.encoding) for leak in self.scan_text(unescaped, str(path))}
            leaks.extend(Leak(secret=s, encoding=e, where=str(path)) for s, e in sorted(found))
        return leaks


REGISTRY = SecretRegistry()
