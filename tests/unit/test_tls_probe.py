"""The TLS probe against real loopback TLS servers: the chain as sent, every way a chain can be wrong, protocol
versions, and bounded, concurrent scanning with one-line errors."""

from __future__ import annotations

import asyncio
import os
import selectors
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.x509.verification import Store

from golive.outcomes import ProbeError
from golive.probes.tls import (
    CertPolicy,
    Endpoint,
    Handshake,
    fetch_chain,
    hello_version,
    hostname_matches,
    judge_chain,
    load_roots,
    parse_endpoint,
    probe_version,
    scan,
)
from golive.sandbox.edge import server_context
from golive.sandbox.tls import SERVER_NAMES, CertifiedKey, KeySpec, issue
from tests.netutil import blackhole, closed_port

NOW = datetime.now(UTC)
DAY = timedelta(days=1)
POLICY = CertPolicy()
LOCAL = Endpoint("127.0.0.1", 443)


@pytest.fixture(scope="module")
def pki() -> dict[str, CertifiedKey]:
    root = issue("test root", ca=True, path_length=1)
    intermediate = issue("test intermediate", issuer=root, ca=True, path_length=0)
    return {
        "root": root,
        "intermediate": intermediate,
        "leaf": issue("localhost", issuer=intermediate, sans=SERVER_NAMES),
    }


def stranger_chain() -> list[CertifiedKey]:
    stranger = issue("stranger", ca=True)
    return [issue("localhost", issuer=stranger, sans=SERVER_NAMES), stranger]


def handshake(*chain: CertifiedKey) -> Handshake:
    return Handshake("TLSv1.3", "TLS_AES_256_GCM_SHA384", tuple(c.certificate for c in chain))


def judge(pki, *chain, endpoint=LOCAL, policy=POLICY):
    return judge_chain(endpoint, handshake(*chain), Store([pki["root"].certificate]), policy, NOW)


def test_a_good_chain_has_no_problem_and_full_evidence(pki):
    report = judge(pki, pki["leaf"], pki["intermediate"])
    assert report.problems == ()
    assert report.renewal_problems == ()
    summary = report.summary()
    assert [c["subject"] for c in summary["chain"]] == ["CN=localhost", "CN=test intermediate"]
    assert summary["chain"][0]["sans"] == ["localhost", "127.0.0.1", "::1"]
    assert {"not_before", "not_after", "days_left", "issuer", "key", "signature"} <= summary["chain"][0].keys()
    assert report.min_days_left in (89, 90)  # x509 times are whole seconds


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda p: [issue("localhost", issuer=p["intermediate"], sans=SERVER_NAMES, not_before=NOW - 90 * DAY,
                          not_after=NOW - 2 * DAY), p["intermediate"]],
         "leaf CN=localhost expired 2 days ago"),
        (lambda p: [issue("localhost", issuer=p["intermediate"], sans=SERVER_NAMES, not_after=NOW + 10 * DAY + DAY / 2),
                    p["intermediate"]],
         "leaf CN=localhost expires in 10 days"),
        (lambda p: [issue("localhost", issuer=p["intermediate"], sans=SERVER_NAMES, not_before=NOW + DAY),
                    p["intermediate"]],
         "leaf CN=localhost is not valid yet"),
        (lambda p: [issue("localhost", sans=SERVER_NAMES)], "the leaf CN=localhost is self-signed"),
        (lambda p: [p["leaf"]], "the server sent only the leaf: the intermediate CN=test intermediate"),
        (lambda p: [issue("other.example", issuer=p["intermediate"], sans=("other.example",)), p["intermediate"]],
         "hostname 127.0.0.1 does not match the leaf CN=other.example (SANs: other.example)"),
        (lambda p: [issue("localhost", issuer=p["intermediate"], sans=SERVER_NAMES, key=KeySpec("rsa", 1024)),
                    p["intermediate"]],
         "leaf CN=localhost has a weak RSA 1024-bit key; expected RSA >= 2048 or EC >= 256"),
        (lambda p: [issue("localhost", issuer=p["intermediate"], sans=SERVER_NAMES, key=KeySpec(curve=ec.SECP224R1)),
                    p["intermediate"]],
         "leaf CN=localhost has a weak EC 224-bit key; expected RSA >= 2048 or EC >= 256"),
        (lambda p: stranger_chain(),
         "the chain does not verify to a trusted root"),
        (lambda p: [issue("localhost", issuer=p["intermediate"], sans=())], "has no subjectAltName"),
    ],
    ids=["expired", "inside-threshold", "not-yet-valid", "self-signed", "missing-intermediate", "wrong-host",
         "weak-rsa-key", "weak-ec-key", "untrusted", "no-san"],
)  # fmt: skip
def test_each_wrong_chain_names_the_certificate_and_the_value(pki, make, problem):
    report = judge(pki, *make(pki))
    assert any(problem in p for p in report.problems), report.problems


def test_an_expired_intermediate_is_reported_without_a_duplicate_trust_problem(pki):
    old = issue("old intermediate", issuer=pki["root"], ca=True, path_length=0, not_before=NOW - 400 * DAY,
                not_after=NOW - DAY)  # fmt: skip
    report = judge(pki, issue("localhost", issuer=old, sans=SERVER_NAMES), old)
    expected = f"intermediate CN=old intermediate expired 1 day ago (not after {(NOW - DAY):%Y-%m-%d})"
    assert report.problems == (f"{expected}; threshold 21 days left",)


def test_renewal_point_by_fraction_and_by_days(pki):
    leaf = issue("localhost", issuer=pki["intermediate"], sans=SERVER_NAMES, not_before=NOW - 65 * DAY,
                 not_after=NOW + 25 * DAY)  # fmt: skip
    by_fraction = judge(pki, leaf, pki["intermediate"])
    assert by_fraction.problems == ()
    (problem,) = by_fraction.renewal_problems
    assert "leaf CN=localhost is past its renewal point (67% of its lifetime)" in problem
    left = (leaf.certificate.not_valid_after_utc - NOW) // DAY  # 24: the certificate's times are whole seconds
    assert problem.endswith(f"({left} days left): the renewal job is not working")
    assert judge(pki, leaf, pki["intermediate"], policy=CertPolicy(renew_before_days=20)).renewal_problems == ()
    assert judge(pki, leaf, pki["intermediate"], policy=CertPolicy(renew_before_days=30)).renewal_problems


def test_an_intermediate_past_its_renewal_point_counts_and_the_root_does_not(pki):
    """A 3-year intermediate 25 days from its end, sent with a fresh leaf and with the root: only the intermediate
    is past its renewal point (30 days before expiry); the root, 10 years old, is a trust anchor the site never
    renews. An intermediate in the last third of a long life is not (the fraction rule is for leaves)."""
    old_root = issue("old root", ca=True, path_length=1, not_before=NOW - 3650 * DAY, not_after=NOW + 1800 * DAY)
    aging = issue("aging intermediate", issuer=old_root, ca=True, path_length=0, not_before=NOW - 1070 * DAY,
                  not_after=NOW + 25 * DAY)  # fmt: skip
    leaf = issue("localhost", issuer=aging, sans=SERVER_NAMES)
    store = Store([old_root.certificate])
    report = judge_chain(LOCAL, handshake(leaf, aging, old_root), store, POLICY, NOW)
    assert report.problems == ()
    (problem,) = report.renewal_problems
    due = f"{(NOW - 5 * DAY):%Y-%m-%d}"
    assert problem.startswith("intermediate CN=aging intermediate is past its renewal point (30 days before "
                              f"expiry): renewal was due {due}, 5 days ago"), problem  # fmt: skip
    left = (aging.certificate.not_valid_after_utc - NOW) // DAY
    assert problem.endswith(f"({left} days left): the server still sends it: the chain it serves was not renewed "
                            "with the CA's current one")  # fmt: skip
    assert [c["certificate"] for c in report.renewal["certificates"]] == [
        "leaf CN=localhost", "intermediate CN=aging intermediate"]  # fmt: skip
    later = CertPolicy(intermediate_renew_before_days=24)
    assert judge_chain(LOCAL, handshake(leaf, aging, old_root), store, later, NOW).renewal_problems == ()
    # 2.5 years into 3: past two thirds of its life, but 195 days from its end, as CAs' intermediates often are
    long_lived = issue("long-lived intermediate", issuer=old_root, ca=True, path_length=0,
                       not_before=NOW - 900 * DAY, not_after=NOW + 195 * DAY)  # fmt: skip
    fresh = issue("localhost", issuer=long_lived, sans=SERVER_NAMES)
    assert judge_chain(LOCAL, handshake(fresh, long_lived, old_root), store, POLICY, NOW).renewal_problems == ()


def sha1_signed(signed: CertifiedKey) -> x509.Certificate:
    """``signed`` (an RSA certificate signed with SHA-256) signed again with SHA-1, which cryptography refuses to
    build: sha1WithRSAEncryption replaces sha256WithRSAEncryption (OIDs of the same length) in the DER, and a
    PKCS#1 v1.5 signature of the edited TBS (the same length) replaces the old one."""
    sha256_rsa, sha1_rsa = bytes.fromhex("2a864886f70d01010b"), bytes.fromhex("2a864886f70d010105")
    cert = signed.certificate
    tbs = cert.tbs_certificate_bytes.replace(sha256_rsa, sha1_rsa)
    signature = signed.key.sign(tbs, padding.PKCS1v15(), hashes.SHA1())
    der = cert.public_bytes(serialization.Encoding.DER).replace(cert.tbs_certificate_bytes, tbs)
    return x509.load_der_x509_certificate(der.replace(sha256_rsa, sha1_rsa).replace(cert.signature, signature))


def test_a_sha1_signature_is_named():
    sha1 = sha1_signed(issue("localhost", sans=SERVER_NAMES, key=KeySpec("rsa", 2048)))
    assert isinstance(sha1.signature_hash_algorithm, hashes.SHA1)
    report = judge_chain(LOCAL, Handshake("TLSv1.3", "x", (sha1,)), Store([sha1]), POLICY, NOW)
    assert "leaf CN=localhost is signed with SHA1; expected SHA-256 or better" in report.problems


@pytest.mark.parametrize(
    ("host", "sans", "matches"),
    [
        ("app.example.com", ["app.example.com"], True),
        ("APP.example.com", ["app.example.com"], True),
        ("app.example.com", ["*.example.com"], True),
        ("a.b.example.com", ["*.example.com"], False),
        ("example.com", ["*.example.com"], False),
        ("127.0.0.1", ["127.0.0.1"], True),
        ("127.0.0.1", ["localhost"], False),
        ("::1", ["::1"], True),
    ],
)
def test_hostname_matching_uses_sans_only(host, sans, matches):
    assert hostname_matches(host, sans) is matches


@pytest.mark.parametrize(
    ("text", "endpoint"),
    [
        ("app.example.com", Endpoint("app.example.com", 443)),
        ("App.Example.com:8443", Endpoint("app.example.com", 8443)),
        ("https://app.example.com:444/api/x", Endpoint("app.example.com", 444)),
        ("[::1]:8443", Endpoint("::1", 8443)),
        ("127.0.0.1:1234", Endpoint("127.0.0.1", 1234)),
    ],
)
def test_parse_endpoint(text, endpoint):
    assert parse_endpoint(text) == endpoint


@pytest.mark.parametrize("text", ["http://app.example.com", "app.example.com:http", "", "a b", "host:70000"])
def test_parse_endpoint_refuses_malformed_values_in_one_line(text):
    with pytest.raises(ValueError, match=r"expected|port"):
        parse_endpoint(text)


# ------------------------------------------------------------------------------------------- live servers


@contextmanager
def tls_servers(contexts: list[ssl.SSLContext]) -> Iterator[list[Endpoint]]:
    """Real TLS servers on loopback (one asyncio loop in a thread) answering a minimal HTTP response."""
    ready, ports = threading.Event(), []
    loops: list[asyncio.AbstractEventLoop] = []
    done: list[asyncio.Event] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        writer.close()

    async def main() -> None:
        servers = [await asyncio.start_server(handle, "127.0.0.1", 0, ssl=c) for c in contexts]
        ports.extend(s.sockets[0].getsockname()[1] for s in servers)
        loops.append(asyncio.get_running_loop())
        done.append(asyncio.Event())
        ready.set()
        await done[0].wait()
        for server in servers:
            server.close()

    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield [Endpoint("127.0.0.1", port) for port in ports]
    finally:
        loops[0].call_soon_threadsafe(done[0].set)
        thread.join(5)


def _files(tmp_path: Path, name: str, *chain: CertifiedKey) -> tuple[Path, Path]:
    cert, key = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert.write_bytes(b"".join(c.certificate_pem() for c in chain))
    key.write_bytes(chain[0].key_pem())
    return cert, key


def test_fetch_chain_returns_exactly_what_the_server_sends(pki, tmp_path):
    full = server_context(*_files(tmp_path, "full", pki["leaf"], pki["intermediate"]))
    leaf_only = server_context(*_files(tmp_path, "leaf", pki["leaf"]))
    with tls_servers([full, leaf_only]) as (a, b):
        sent = fetch_chain(a, 3.0)
        assert [c.subject.rfc4514_string() for c in sent.chain] == ["CN=localhost", "CN=test intermediate"]
        assert sent.protocol == "TLSv1.3"
        assert len(fetch_chain(b, 3.0).chain) == 1


def test_legacy_versions_are_refused_by_a_modern_server_and_accepted_by_a_legacy_one(pki, tmp_path):
    files = _files(tmp_path, "full", pki["leaf"], pki["intermediate"])
    with tls_servers([server_context(*files), server_context(*files, legacy=True)]) as (modern, legacy):
        for version in ("TLSv1", "TLSv1.1"):
            assert not probe_version(modern, version, 3.0).accepted
            accepted = probe_version(legacy, version, 3.0)
            assert accepted.accepted
            assert accepted.detail.startswith(f"negotiated {version} ")
        assert probe_version(modern, "TLSv1.2", 3.0).accepted
        assert probe_version(modern, "TLSv1.3", 3.0).detail.startswith("negotiated TLSv1.3 TLS_")


@contextmanager
def raw_peer(reply: bytes) -> Iterator[tuple[Endpoint, list[bytes]]]:
    """A TCP server on loopback that reads what the client sends first, answers ``reply`` and hangs up."""
    seen: list[bytes] = []
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        listener.settimeout(5)

        def serve() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(5)
                seen.append(conn.recv(65536))
                conn.sendall(reply)

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        yield Endpoint("127.0.0.1", listener.getsockname()[1]), seen
        thread.join(5)


def server_hello(version: int) -> bytes:
    """A bare ServerHello record choosing ``version`` and TLS_RSA_WITH_AES_128_CBC_SHA, no extensions."""
    body = version.to_bytes(2) + bytes(32) + b"\x00" + b"\x00\x2f" + b"\x00"
    message = b"\x02" + len(body).to_bytes(3) + body
    return b"\x16\x03\x01" + len(message).to_bytes(2) + message


@pytest.mark.parametrize(("version", "wire"), [("TLSv1", 0x0301), ("TLSv1.1", 0x0302)])
def test_the_clienthello_really_offers_the_legacy_version(version, wire):
    with raw_peer(b"") as (endpoint, seen):
        probe = probe_version(endpoint, version, 3.0)
    assert hello_version(seen[0]) == wire
    assert not probe.accepted


def test_a_serverhello_choosing_tls10_is_acceptance_even_if_golives_client_then_stops():
    with raw_peer(server_hello(0x0301)) as (endpoint, _):
        probe = probe_version(endpoint, "TLSv1", 3.0)
    assert probe.accepted
    assert probe.detail.startswith("the server selected TLSv1; golive's client then stopped: "), probe.detail
    with raw_peer(server_hello(0x0303)) as (endpoint, _):
        assert not probe_version(endpoint, "TLSv1", 3.0).accepted  # it answered with TLS 1.2: not TLS 1.0


NO_LEGACY_OPENSSL = """openssl_conf = default_conf
[default_conf]
ssl_conf = ssl_sect
[ssl_sect]
system_default = system_default_sect
[system_default_sect]
Protocol = ALL, -TLSv1, -TLSv1.1
"""
SCAN_IN_A_CHILD = """import sys
from golive.outcomes import ProbeError
from golive.probes.tls import CertPolicy, Endpoint, load_roots, scan
(result,) = scan([Endpoint("127.0.0.1", int(sys.argv[1]))], load_roots(None), CertPolicy(), timeout=3.0).values()
try:
    result.require_versions()
except ProbeError as error:
    print("error:", error)
else:
    print("measured:", [(v.version, v.accepted) for v in result.versions])
"""


def test_a_host_whose_openssl_cannot_offer_legacy_tls_is_an_error_never_a_refusal(pki, tmp_path):
    """golive on a host whose OpenSSL refuses TLS 1.0/1.1 (its system configuration here; a security level or FIPS
    elsewhere) against a server that accepts TLS 1.0: TLS-03 cannot be measured, and says why."""
    config = tmp_path / "openssl.cnf"
    config.write_text(NO_LEGACY_OPENSSL)
    files = _files(tmp_path, "full", pki["leaf"], pki["intermediate"])
    with tls_servers([server_context(*files, legacy=True)]) as (legacy,):
        child = subprocess.run([sys.executable, "-c", SCAN_IN_A_CHILD, str(legacy.port)], capture_output=True,
                               text=True, timeout=30, env={**os.environ, "OPENSSL_CONF": str(config)})  # fmt: skip
        assert probe_version(legacy, "TLSv1", 3.0).accepted  # the same server, from a host that can offer it
    assert child.returncode == 0, child.stderr
    assert child.stdout.startswith("error: golive cannot offer TLSv1 on this host: NO_PROTOCOLS_AVAILABLE (OpenSSL")


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
def test_a_server_that_speaks_only_legacy_tls_is_measured_not_an_error(pki, tmp_path):
    legacy_only = server_context(*_files(tmp_path, "full", pki["leaf"], pki["intermediate"]), legacy=True)
    legacy_only.maximum_version = ssl.TLSVersion.TLSv1_1
    with tls_servers([legacy_only]) as (endpoint,):
        (result,) = scan([endpoint], [pki["root"].certificate], POLICY, timeout=3.0).values()
    assert result.chain is None
    assert result.error is not None
    assert [(v.version, v.accepted) for v in result.require_versions()] == [("TLSv1", True), ("TLSv1.1", True)]


def unreadable(signed: CertifiedKey, how: str) -> CertifiedKey:
    """``signed`` made unreadable to cryptography, though OpenSSL still serves it: its signature algorithm replaced
    by an OID no one defined (1.2.840.10045.4.3.99, the length of ecdsa-with-SHA256's), or its version written out
    although DER leaves the default (v1) out."""
    der = signed.certificate.public_bytes(serialization.Encoding.DER)
    if how == "unknown-signature-algorithm":
        ecdsa_sha256 = bytes.fromhex("2a8648ce3d040302")
        assert der.count(ecdsa_sha256) == 2
        der = der.replace(ecdsa_sha256, ecdsa_sha256[:-1] + b"\x63")
        return CertifiedKey(x509.load_der_x509_certificate(der), signed.key)
    v3, v1 = bytes.fromhex("a003020102"), bytes.fromhex("a003020100")
    pem = ssl.DER_cert_to_PEM_cert(der.replace(v3, v1, 1)).encode()

    class Unparsable(CertifiedKey):
        def certificate_pem(self) -> bytes:
            return pem

    return Unparsable(signed.certificate, signed.key)


def test_a_certificate_cryptography_cannot_read_is_that_domains_error_alone(pki, tmp_path):
    """OpenSSL hands over certificates cryptography refuses (a DER it finds malformed, an algorithm it does not
    know): each is a one-line error of the domain that sent it; the scan of the others goes on."""
    roots = [pki["root"].certificate]
    contexts = [server_context(*_files(tmp_path, "good", pki["leaf"], pki["intermediate"]))]
    for how in ("unknown-signature-algorithm", "encoded-default-version"):
        bad = unreadable(issue("localhost", issuer=pki["intermediate"], sans=SERVER_NAMES), how)
        contexts.append(server_context(*_files(tmp_path, how, bad, pki["intermediate"]), seclevel=0))
    with tls_servers(contexts) as (good, unknown, malformed):
        results = scan([good, unknown, malformed], roots, POLICY, timeout=3.0)
    assert results[good].require().problems == ()
    assert results[unknown].error == (
        f"{unknown}: golive cannot read the chain the server sent (Signature algorithm OID: 1.2.840.10045.4.3.99 not "
        "recognized)"
    )
    assert results[malformed].error.startswith(
        f"{malformed}: certificate 1 of 2 sent cannot be parsed (error parsing asn1 value: ParseError {{ kind: "
        "EncodedDefault"
    ), results[malformed].error
    for result in (results[unknown], results[malformed]):
        with pytest.raises(ProbeError):
            result.require()
        assert "\n" not in (result.error or "")


def test_scan_is_concurrent_and_keeps_each_domains_error_to_itself(pki, tmp_path):
    files = _files(tmp_path, "full", pki["leaf"], pki["intermediate"])
    roots = [pki["root"].certificate]
    with tls_servers([server_context(*files) for _ in range(20)]) as endpoints:
        dead = Endpoint("127.0.0.1", closed_port())
        started = time.perf_counter()
        results = scan([*endpoints, dead], roots, POLICY, timeout=3.0, concurrency=8)
        elapsed = time.perf_counter() - started
    assert len(results) == 21
    assert results[dead].error == f"127.0.0.1:{dead.port}: connection refused"
    with pytest.raises(ProbeError, match="connection refused"):
        results[dead].require()
    with pytest.raises(ProbeError, match="connection refused"):
        results[dead].require_versions()
    for endpoint in endpoints:
        assert results[endpoint].require().problems == ()
        assert [v.accepted for v in results[endpoint].versions] == [False, False]
    assert elapsed < 5


@contextmanager
def counting_listeners(count: int, hold_s: float) -> Iterator[tuple[list[Endpoint], list[int]]]:
    """``count`` loopback listeners sharing one count of open connections and its peak. Each connection is held
    ``hold_s`` and closed without an answer; it counts from accept until just before that close, a window inside
    the one the client holds it for, so the peak never overstates what the client had in flight."""
    lock, active, peak = threading.Lock(), [0], [0]
    stop = threading.Event()
    listeners = [socket.create_server(("127.0.0.1", 0), backlog=64) for _ in range(count)]

    def hold(conn: socket.socket) -> None:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(hold_s)
        with lock:
            active[0] -= 1
        conn.close()

    def accept() -> None:
        with selectors.DefaultSelector() as selector:
            for listener in listeners:
                selector.register(listener, selectors.EVENT_READ, listener)
            while not stop.is_set():
                for key, _ in selector.select(0.05):
                    conn, _ = key.data.accept()
                    threading.Thread(target=hold, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield [Endpoint("127.0.0.1", listener.getsockname()[1]) for listener in listeners], peak
    finally:
        stop.set()
        thread.join(5)
        for listener in listeners:
            listener.close()


@pytest.mark.parametrize("concurrency", [1, 4])
def test_scan_never_has_more_handshakes_in_flight_than_its_concurrency(pki, concurrency):
    with counting_listeners(10, hold_s=0.1) as (endpoints, peak):
        results = scan(endpoints, [pki["root"].certificate], POLICY, timeout=3.0, concurrency=concurrency)
    assert all("TLS handshake failed" in (result.error or "") for result in results.values())
    # 30 connections (a chain and two legacy handshakes each), each held 0.1 s: they overlap up to the bound
    assert min(2, concurrency) <= peak[0] <= concurrency


def test_a_black_hole_ends_within_the_timeout(pki):
    with blackhole() as port:
        started = time.perf_counter()
        results = scan([Endpoint("127.0.0.1", port)], [pki["root"].certificate], POLICY, timeout=0.5)
        assert time.perf_counter() - started < 2.5
    assert "timed out after 0.5 s" in results[Endpoint("127.0.0.1", port)].error


def test_trust_store_from_a_bundle_or_the_system(tmp_path, pki):
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(pki["root"].certificate_pem())
    assert load_roots(bundle) == [pki["root"].certificate]
    assert len(load_roots(None)) > 10
    with pytest.raises(ProbeError, match="cannot read the CA bundle"):
        load_roots(tmp_path / "missing.pem")
    (tmp_path / "empty.pem").write_text("not a certificate")
    with pytest.raises(ProbeError, match="no trust anchors found"):
        load_roots(tmp_path / "empty.pem")
