"""TLS probes: the certificate chain a server sends, judged in full (TLS-01, TLS-02), and which protocol
versions it accepts (TLS-03).

Built on the standard library's ``ssl`` (the handshakes) and ``cryptography`` (parsing, and chain verification
with its web-PKI verifier) rather than sslyze: we need three handshakes per endpoint and the chain as sent,
not a full scan, and sslyze brings its own OpenSSL build (nassl) and a scanner pool of its own.

The chain is fetched with verification off so that the exact certificates the server sends can be inspected
even when they are wrong; trust is then decided by verifying that chain (no AIA fetching, no intermediates
from a cache: a missing intermediate fails, even where a browser might patch it up).
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import ssl
import time
import warnings
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from golive.outcomes import ProbeError

LEGACY_VERSIONS: dict[str, ssl.TLSVersion] = {"TLSv1": ssl.TLSVersion.TLSv1, "TLSv1.1": ssl.TLSVersion.TLSv1_1}
_VERSIONS = {**LEGACY_VERSIONS, "TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}
_WIRE = {"TLSv1": 0x0301, "TLSv1.1": 0x0302, "TLSv1.2": 0x0303, "TLSv1.3": 0x0304}  # as ClientHello/ServerHello say
_WIRE_NAMES = {code: name for name, code in _WIRE.items()}
# A scanner must be able to offer what it tests for: OpenSSL 3 offers TLS < 1.2 and weak keys only at level 0.
_SCANNER_CIPHERS = "ALL:@SECLEVEL=0"


@dataclass(frozen=True, order=True)
class Endpoint:
    """A TLS endpoint: host name (or IP address) and port."""

    host: str
    port: int = 443

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == 443 else f"{host}:{self.port}"

    @property
    def is_ip(self) -> bool:
        try:
            ipaddress.ip_address(self.host)
        except ValueError:
            return False
        return True


def parse_endpoint(text: str, default_port: int = 443) -> Endpoint:
    """``host``, ``host:port``, ``[v6]:port`` or an https URL; ValueError (one line) for anything else."""
    value = text.strip()
    if "://" in value:
        scheme, _, value = value.partition("://")
        if scheme.lower() != "https":
            raise ValueError(f"{text!r}: expected an https URL or host[:port]")
        value = value.split("/", 1)[0].rsplit("@", 1)[-1]
    host, port = value, default_port
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        if rest:
            if not rest.startswith(":") or not rest[1:].isdigit():
                raise ValueError(f"{text!r}: expected [IPv6]:port")
            port = int(rest[1:])
    elif value.count(":") == 1:
        host, _, digits = value.partition(":")
        if not digits.isdigit():
            raise ValueError(f"{text!r}: the port is not a number")
        port = int(digits)
    if not host or any(c.isspace() or c in "/?#@" for c in host) or not 0 < port < 65536:
        raise ValueError(f"{text!r}: expected host[:port]")
    return Endpoint(host.lower(), port)


# --------------------------------------------------------------------------------------- handshakes


@dataclass(frozen=True)
class Handshake:
    """What one unverified handshake saw: the negotiated protocol and cipher, and the chain as sent."""

    protocol: str
    cipher: str
    chain: tuple[x509.Certificate, ...]


@functools.cache
def _scanner_context(version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    """An unverifying client context offering every cipher, and only ``version`` when given (shared: a context
    is safe to use from many threads once set up)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_ciphers(_SCANNER_CIPHERS)
    if version is not None:
        with warnings.catch_warnings():  # TLSVersion.TLSv1/TLSv1_1 are deprecated: offering them is the point
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = version
            context.maximum_version = version
    return context


def _connect(endpoint: Endpoint, timeout: float) -> socket.socket:
    try:
        return socket.create_connection((endpoint.host, endpoint.port), timeout=timeout)
    except TimeoutError:
        raise ProbeError(f"{endpoint}: connect timed out after {timeout:g} s") from None
    except ConnectionRefusedError:
        raise ProbeError(f"{endpoint}: connection refused") from None
    except socket.gaierror:
        raise ProbeError(f"{endpoint}: host name does not resolve") from None
    except OSError as error:
        raise ProbeError(f"{endpoint}: cannot connect ({error.strerror or error})") from None


def _server_name(endpoint: Endpoint) -> str | None:
    return None if endpoint.is_ip else endpoint.host


def fetch_chain(endpoint: Endpoint, timeout: float) -> Handshake:
    """One handshake (any version the server picks), verification off, returning the chain exactly as sent."""
    sock = _connect(endpoint, timeout)
    try:
        with _scanner_context().wrap_socket(sock, server_hostname=_server_name(endpoint)) as tls:
            der = [cert.public_bytes(ssl._ssl.ENCODING_DER) for cert in tls._sslobj.get_unverified_chain()]  # type: ignore[attr-defined]
            cipher = tls.cipher()
            return Handshake(tls.version() or "?", cipher[0] if cipher else "?", parse_chain(endpoint, der))
    except TimeoutError:
        raise ProbeError(f"{endpoint}: TLS handshake timed out after {timeout:g} s") from None
    except (ssl.SSLError, OSError) as error:
        raise ProbeError(f"{endpoint}: TLS handshake failed ({_ssl_reason(error)})") from None
    finally:
        sock.close()


def parse_chain(endpoint: Endpoint, der: Sequence[bytes]) -> tuple[x509.Certificate, ...]:
    """The certificates as sent (DER), parsed; one cryptography cannot parse (OpenSSL is more lenient) is that
    endpoint's ProbeError, naming its place in the chain."""
    chain = []
    for number, data in enumerate(der, start=1):
        try:
            chain.append(x509.load_der_x509_certificate(data))
        except ValueError as error:
            where = f"{endpoint}: certificate {number} of {len(der)} sent"
            raise ProbeError(f"{where} cannot be parsed ({_first_line(error)})") from None
    return tuple(chain)


def _first_line(error: BaseException) -> str:
    return " ".join(str(error).split())[:200] or type(error).__name__


def _ssl_reason(error: BaseException) -> str:
    if isinstance(error, ssl.SSLError) and error.reason:
        return error.reason
    return str(error) or type(error).__name__


@dataclass(frozen=True)
class VersionProbe:
    version: str
    accepted: bool
    detail: str


def hello_version(data: bytes) -> int | None:
    """The protocol version in the first TLS record of ``data``, when it starts with a whole ClientHello (the
    highest version it offers) or ServerHello (the version the server selected): the supported_versions
    extension when present, else the legacy version field (0x0301 is TLS 1.0 ... 0x0304 TLS 1.3). None when
    the bytes are not, or not yet, a whole hello."""
    if len(data) < 9 or data[0] != 0x16 or data[5] not in (1, 2):
        return None
    client = data[5] == 1
    message = data[9 : 9 + int.from_bytes(data[6:9])]
    if len(message) < int.from_bytes(data[6:9]) or len(message) < 35:
        return None
    try:
        position = 35 + message[34]  # version (2), random (32), session id
        if client:
            position += 2 + int.from_bytes(message[position : position + 2])  # cipher suites
            position += 1 + message[position]  # compression methods
        else:
            position += 3  # the cipher suite and compression method chosen
        end = position + 2 + int.from_bytes(message[position : position + 2])
        position += 2
        while position + 4 <= min(end, len(message)):
            kind = int.from_bytes(message[position : position + 2])
            size = int.from_bytes(message[position + 2 : position + 4])
            value = message[position + 4 : position + 4 + size]
            position += 4 + size
            if kind == 0x2B:  # supported_versions: a list in a ClientHello, the one selected in a ServerHello
                versions = [int.from_bytes(value[i : i + 2]) for i in range(1, len(value) - 1, 2)] if client else []
                return max(versions) if client else int.from_bytes(value[:2])
    except IndexError:
        return None
    return int.from_bytes(message[0:2])


def probe_version(endpoint: Endpoint, version: str, timeout: float) -> VersionProbe:
    """Offer only ``version`` (TLSv1, TLSv1.1, TLSv1.2, TLSv1.3). Accepted when the server's ServerHello selects
    it, even if golive's own client then stops; refused when the server alerts, resets or picks another version.

    The ClientHello is made before connecting and read back: when golive's own OpenSSL cannot offer ``version``
    (its security level, FIPS mode, a build without it), that is a ProbeError naming the host's limit, never a
    refusal, so a server that accepts TLS 1.0 cannot pass because golive never asked."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = _scanner_context(_VERSIONS[version]).wrap_bio(incoming, outgoing, server_hostname=_server_name(endpoint))
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass  # the ClientHello is written: the server speaks next
    except ssl.SSLError as error:
        raise ProbeError(
            f"golive cannot offer {version} on this host: {_ssl_reason(error)} ({ssl.OPENSSL_VERSION})"
        ) from None
    hello = outgoing.read()
    offered = hello_version(hello)
    if offered != _WIRE[version]:
        raise ProbeError(
            f"golive cannot offer {version} on this host: its ClientHello offers "
            f"{_WIRE_NAMES.get(offered or 0, 'nothing readable')} ({ssl.OPENSSL_VERSION})"
        )
    deadline = time.monotonic() + timeout
    received = bytearray()

    def verdict(reason: str) -> VersionProbe:
        """The handshake did not complete: the server accepted all the same if its ServerHello chose ``version``."""
        if hello_version(bytes(received)) == _WIRE[version]:
            return VersionProbe(version, True, f"the server selected {version}; golive's client then stopped: {reason}")
        return VersionProbe(version, False, reason)

    sock = _connect(endpoint, timeout)
    try:
        sock.sendall(hello)
        while True:
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            chunk = sock.recv(16384)
            if len(received) < 65536:
                received += chunk
            if chunk:
                incoming.write(chunk)
            else:
                incoming.write_eof()
            try:
                tls.do_handshake()
            except ssl.SSLWantReadError:
                sock.sendall(outgoing.read())
                continue
            except ssl.SSLError as error:
                return verdict(_ssl_reason(error))
            sock.sendall(outgoing.read())
            cipher = tls.cipher()
            return VersionProbe(version, True, f"negotiated {tls.version()} {cipher[0] if cipher else ''}".strip())
    except TimeoutError:
        raise ProbeError(f"{endpoint}: {version} handshake timed out after {timeout:g} s") from None
    except OSError as error:  # a reset or an abort: the server dropped the handshake
        return verdict(_ssl_reason(error))
    finally:
        sock.close()


# ------------------------------------------------------------------------------------- certificates


def _name(name: x509.Name) -> str:
    for oid in (NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME):
        attributes = name.get_attributes_for_oid(oid)
        if attributes:
            return f"{'CN' if oid == NameOID.COMMON_NAME else 'O'}={attributes[0].value}"
    return name.rfc4514_string() or "(empty name)"


def _key(cert: x509.Certificate) -> tuple[str, int]:
    key = cert.public_key()
    match key:
        case rsa.RSAPublicKey():
            return "RSA", key.key_size
        case ec.EllipticCurvePublicKey():
            return "EC", key.curve.key_size
        case dsa.DSAPublicKey():
            return "DSA", key.key_size
        case ed25519.Ed25519PublicKey():
            return "Ed25519", 256
        case ed448.Ed448PublicKey():
            return "Ed448", 456
    return type(key).__name__, 0


def _sans(cert: x509.Certificate) -> list[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [*ext.get_values_for_type(x509.DNSName), *(str(ip) for ip in ext.get_values_for_type(x509.IPAddress))]


@dataclass(frozen=True)
class CertInfo:
    """One certificate of a chain, as the report shows it."""

    role: str  # leaf | intermediate | root
    subject: str
    issuer: str
    sans: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    key_type: str
    key_bits: int
    signature_hash: str | None
    self_signed: bool

    @classmethod
    def of(cls, cert: x509.Certificate, role: str) -> CertInfo:
        kind, bits = _key(cert)
        algorithm = cert.signature_hash_algorithm
        return cls(
            role=role,
            subject=_name(cert.subject),
            issuer=_name(cert.issuer),
            sans=tuple(_sans(cert)),
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
            key_type=kind,
            key_bits=bits,
            signature_hash=algorithm.name if algorithm is not None else None,
            self_signed=cert.issuer == cert.subject,
        )

    def days_left(self, now: datetime) -> int:
        return (self.not_after - now) // timedelta(days=1)

    @property
    def lifetime(self) -> timedelta:
        return self.not_after - self.not_before

    def label(self) -> str:
        return f"{self.role} {self.subject}"

    def summary(self, now: datetime) -> dict[str, object]:
        return {
            "subject": self.subject,
            "issuer": self.issuer,
            "sans": list(self.sans),
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "days_left": self.days_left(now),
            "key": f"{self.key_type} {self.key_bits}",
            "signature": self.signature_hash,
        }


def hostname_matches(host: str, sans: Iterable[str]) -> bool:
    """RFC 6125 matching against the SANs only (never the CN): exact, or one left-most ``*`` label."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for san in sans:
        if address is not None:
            try:
                if ipaddress.ip_address(san) == address:
                    return True
            except ValueError:
                continue
            continue
        pattern, name = san.lower().rstrip("."), host.lower().rstrip(".")
        if pattern == name:
            return True
        if pattern.startswith("*.") and "." in name:
            label, _, rest = name.partition(".")
            if label and rest == pattern[2:] and rest.count(".") >= 1:
                return True
    return False


def load_roots(ca_bundle: Path | None) -> list[x509.Certificate]:
    """The trust anchors: the configured PEM bundle, else the system store (OpenSSL's default paths)."""
    paths: list[Path] = []
    if ca_bundle is not None:
        paths = [Path(ca_bundle)]
    else:
        defaults = ssl.get_default_verify_paths()
        if defaults.cafile:
            paths.append(Path(defaults.cafile))
        if defaults.capath and Path(defaults.capath).is_dir():
            paths += sorted(p for p in Path(defaults.capath).iterdir() if p.suffix in (".pem", ".crt"))
    roots: list[x509.Certificate] = []
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError as error:
            raise ProbeError(f"cannot read the CA bundle {path}: {error.strerror}") from None
        for block in data.split(b"-----END CERTIFICATE-----"):
            if b"-----BEGIN CERTIFICATE-----" not in block:
                continue
            try:
                with warnings.catch_warnings():  # old anchors with negative serials still load, with a warning
                    warnings.simplefilter("ignore")
                    roots.append(x509.load_pem_x509_certificate(block + b"-----END CERTIFICATE-----\n"))
            except ValueError:
                continue  # one unparsable anchor does not spoil the store
    if not roots:
        raise ProbeError(f"no trust anchors found in {', '.join(map(str, paths)) or 'the system store'}")
    return roots


@dataclass(frozen=True)
class CertPolicy:
    """What TLS-01 and TLS-02 hold every chain to."""

    min_days_left: int = 21
    min_rsa_bits: int = 2048
    min_ec_bits: int = 256
    renew_before_days: int | None = None  # a fixed renewal point, days before expiry...
    renew_at_fraction: float = 2 / 3  # ...else the fraction of its lifetime at which a leaf is renewed
    # An intermediate is the CA's to renew, over years: the chain the site sends must move to the CA's current one
    # before the old one nears its end, so it is held to days before expiry, never to a fraction of its life.
    intermediate_renew_before_days: int = 30


@dataclass(frozen=True)
class ChainReport:
    """A domain's chain as sent, and everything TLS-01 and TLS-02 found wrong with it."""

    endpoint: Endpoint
    protocol: str
    cipher: str
    certs: tuple[CertInfo, ...]
    measured_at: datetime
    problems: tuple[str, ...]  # TLS-01
    renewal_problems: tuple[str, ...]  # TLS-02
    renewal: dict[str, object] = field(default_factory=dict)

    @property
    def leaf(self) -> CertInfo:
        return self.certs[0]

    @property
    def min_days_left(self) -> int:
        return min(cert.days_left(self.measured_at) for cert in self.certs)

    def summary(self) -> dict[str, object]:
        return {
            "protocol": self.protocol,
            "cipher": self.cipher,
            "chain": [cert.summary(self.measured_at) for cert in self.certs],
        }


def _roles(chain: Sequence[x509.Certificate]) -> list[str]:
    return ["leaf" if i == 0 else ("root" if c.issuer == c.subject else "intermediate") for i, c in enumerate(chain)]


def _trust_problem(
    endpoint: Endpoint, chain: Sequence[x509.Certificate], infos: Sequence[CertInfo], store: Store, now: datetime
) -> str | None:
    """Why the chain as sent does not verify to a trust anchor, or None. Expiry and hostname are judged
    separately, so the chain is verified against one of the leaf's own names, at a time every certificate is
    valid when they are not all valid now."""
    leaf, leaf_info = chain[0], infos[0]
    if not leaf_info.sans:
        return f"the leaf {leaf_info.subject} has no subjectAltName (browsers ignore the CN)"
    san = leaf_info.sans[0]
    try:
        subject: x509.DNSName | x509.IPAddress = x509.IPAddress(ipaddress.ip_address(san))
    except ValueError:
        subject = x509.DNSName(san.replace("*.", "golive-probe.", 1))
    at = now
    if not all(i.not_before <= now <= i.not_after for i in infos):
        start, end = max(i.not_before for i in infos), min(i.not_after for i in infos)
        if start < end:
            at = start + (end - start) / 2
    try:
        PolicyBuilder().store(store).time(at).build_server_verifier(subject).verify(leaf, list(chain[1:]))
    except VerificationError as error:
        if leaf_info.self_signed:
            return f"the leaf {leaf_info.subject} is self-signed"
        sent = {c.subject for c in chain[1:]}
        if leaf.issuer not in sent and len(chain) == 1:
            return (
                f"the server sent only the leaf: the intermediate {leaf_info.issuer} that issued it is missing "
                "(a client without it in cache cannot build the chain)"
            )
        detail = str(error).removeprefix("validation failed: ").split(" (encountered")[0]
        if (
            at is now
            and "not valid at validation time" in detail
            and not all(i.not_before <= now <= i.not_after for i in infos)
        ):
            return None  # explained by the certificate that is expired or not yet valid, reported on its own
        return f"the chain does not verify to a trusted root ({detail})"
    return None


def judge_chain(
    endpoint: Endpoint,
    handshake: Handshake,
    store: Store,
    policy: CertPolicy,
    now: datetime | None = None,
) -> ChainReport:
    """Judge a chain as sent against the policy: trust, hostname, validity of every certificate, keys,
    signatures (TLS-01) and every certificate's renewal point (TLS-02). Every problem names the certificate."""
    now = now or datetime.now(UTC)
    chain = handshake.chain
    if not chain:
        raise ProbeError(f"{endpoint}: the server sent no certificate")
    try:
        infos = tuple(CertInfo.of(cert, role) for cert, role in zip(chain, _roles(chain), strict=True))
        trust = _trust_problem(endpoint, chain, infos, store, now)
    except (ValueError, UnsupportedAlgorithm) as error:  # a key or signature algorithm cryptography does not know
        raise ProbeError(f"{endpoint}: golive cannot read the chain the server sent ({_first_line(error)})") from None
    problems: list[str] = []
    if trust:
        problems.append(trust)
    leaf = infos[0]
    if leaf.sans and not hostname_matches(endpoint.host, leaf.sans):
        problems.append(
            f"hostname {endpoint.host} does not match the leaf {leaf.subject} (SANs: {', '.join(leaf.sans)})"
        )
    for info in infos:
        days = info.days_left(now)
        if info.not_before > now:
            problems.append(f"{info.label()} is not valid yet (not before {info.not_before:%Y-%m-%d %H:%M} UTC)")
        elif info.not_after <= now:
            problems.append(
                f"{info.label()} expired {_days((now - info.not_after) // timedelta(days=1))} ago "
                f"(not after {info.not_after:%Y-%m-%d}); "
                f"threshold {policy.min_days_left} days left"
            )
        elif days < policy.min_days_left:
            problems.append(
                f"{info.label()} expires in {days} days ({info.not_after:%Y-%m-%d}); threshold {policy.min_days_left}"
            )
        weak = (
            (info.key_type == "RSA" and info.key_bits < policy.min_rsa_bits)
            or (info.key_type == "EC" and info.key_bits < policy.min_ec_bits)
            or info.key_type == "DSA"
        )
        if weak:
            problems.append(
                f"{info.label()} has a weak {info.key_type} {info.key_bits}-bit key; "
                f"expected RSA >= {policy.min_rsa_bits} or EC >= {policy.min_ec_bits}"
            )
        if info.signature_hash in ("sha1", "md5") and not (info.role == "root" and info.self_signed):
            problems.append(f"{info.label()} is signed with {info.signature_hash.upper()}; expected SHA-256 or better")
    renewal_problems, renewal = _judge_renewal(infos, policy, now)
    return ChainReport(endpoint, handshake.protocol, handshake.cipher, infos, now, tuple(problems),
                       tuple(renewal_problems), renewal)  # fmt: skip


def renewal_point(cert: CertInfo, policy: CertPolicy) -> datetime:
    """When a certificate should have been replaced: a leaf a fixed number of days before expiry or at a fraction
    of its life; an intermediate a fixed number of days before expiry."""
    if cert.role == "intermediate":
        return cert.not_after - timedelta(days=policy.intermediate_renew_before_days)
    if policy.renew_before_days is not None:
        return cert.not_after - timedelta(days=policy.renew_before_days)
    return cert.not_before + cert.lifetime * policy.renew_at_fraction


def renewal_rule(role: str, policy: CertPolicy) -> str:
    if role == "intermediate":
        return f"{policy.intermediate_renew_before_days} days before expiry"
    if policy.renew_before_days is not None:
        return f"{policy.renew_before_days} days before expiry"
    return f"{policy.renew_at_fraction:.0%} of its lifetime"


def _days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


# What a certificate still served past its renewal point says about the site (TLS-02).
_NOT_RENEWED = {
    "leaf": "the renewal job is not working",
    "intermediate": "the server still sends it: the chain it serves was not renewed with the CA's current one",
}


def _judge_renewal(infos: Sequence[CertInfo], policy: CertPolicy, now: datetime) -> tuple[list[str], dict[str, object]]:
    """Every certificate the server sends, leaf and intermediates, against its renewal point (a root is a trust
    anchor: the site does not renew it). An expired one is TLS-01's finding, not counted twice."""
    problems: list[str] = []
    measured: list[dict[str, object]] = []
    for cert in (info for info in infos if info.role != "root"):
        due = renewal_point(cert, policy)
        seen: dict[str, object] = {
            "certificate": cert.label(),
            "lifetime_days": cert.lifetime // timedelta(days=1),
            "age_days": (now - cert.not_before) // timedelta(days=1),
            "renewal_due": due.isoformat(),
            "rule": renewal_rule(cert.role, policy),
        }
        measured.append(seen)
        if now < due:
            continue
        if cert.not_after <= now:
            seen["note"] = "expired: reported by TLS-01"
            continue
        problems.append(
            f"{cert.label()} is past its renewal point ({seen['rule']}): renewal was due {due:%Y-%m-%d}, "
            f"{_days((now - due) // timedelta(days=1))} ago, and it still expires {cert.not_after:%Y-%m-%d} "
            f"({cert.days_left(now)} days left): {_NOT_RENEWED[cert.role]}"
        )
    return problems, {"leaf_rule": renewal_rule("leaf", policy), "certificates": measured}


# ------------------------------------------------------------------------------------------ scanning


@dataclass(frozen=True)
class DomainScan:
    """Everything measured for one endpoint; ``error`` is a one-line reason when it could not be measured."""

    endpoint: Endpoint
    chain: ChainReport | None = None
    versions: tuple[VersionProbe, ...] = ()
    error: str | None = None
    versions_error: str | None = None  # the legacy handshakes could not be measured (TLS-03 only)

    def require(self) -> ChainReport:
        if self.chain is None:
            raise ProbeError(self.error or f"{self.endpoint}: not measured")
        return self.chain

    def require_versions(self) -> tuple[VersionProbe, ...]:
        """The legacy handshakes, measured even when the modern one failed (a server that speaks only TLS 1.0
        is a finding of TLS-03, not a gap in the measurement)."""
        if self.versions_error is not None:
            raise ProbeError(self.versions_error)
        if not self.versions:
            self.require()
        return self.versions


def scan(
    endpoints: Sequence[Endpoint],
    roots: Sequence[x509.Certificate],
    policy: CertPolicy,
    timeout: float,
    concurrency: int = 16,
) -> dict[Endpoint, DomainScan]:
    """Scan every endpoint concurrently, at most ``concurrency`` handshakes in flight: the chain (judged) and
    the legacy-protocol handshakes. Each endpoint's result stands alone: one unreachable domain is an error
    for that domain only."""
    unique = sorted(set(endpoints))
    store = Store(list(roots))  # once: a system store of hundreds of anchors takes milliseconds to build
    with ThreadPoolExecutor(max(1, concurrency), thread_name_prefix="golive-tls") as pool:
        chains = {ep: pool.submit(fetch_chain, ep, timeout) for ep in unique}
        legacy = {ep: [pool.submit(probe_version, ep, v, timeout) for v in LEGACY_VERSIONS] for ep in unique}
        results = {}
        for ep in unique:
            report, error = None, None
            try:
                report = judge_chain(ep, chains[ep].result(), store, policy)
            except ProbeError as failed:
                error = str(failed)
            try:
                versions, versions_error = tuple(future.result() for future in legacy[ep]), None
            except ProbeError as failed:
                versions, versions_error = (), str(failed)
            if report is None and not any(v.accepted for v in versions):
                versions, versions_error = (), None  # nothing answered: the chain's error says why
            results[ep] = DomainScan(ep, report, versions, error=error, versions_error=versions_error)
    return results
