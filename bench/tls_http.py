"""Benchmark: golive's TLS + HTTP checks over 1, 50 and 200 loopback HTTPS endpoints, against the same work done
by a plain sequential `openssl s_client` + `curl` loop, side by side.

    python bench/tls_http.py [--sizes 1 50 200] [--repeat 3] [--concurrency 16]

The work per endpoint, both ways: fetch and verify the chain the server sends, try a TLS 1.0 and a TLS 1.1
handshake (both must be refused), GET / over verified HTTPS to read Strict-Transport-Security, and GET the probe
path over plain HTTP, which must answer 301 to the same path on that endpoint over https. Every endpoint has its
own HTTPS listener and its own plain-HTTP listener.

golive does it with its probes as its checks call them (golive.probes.tls.scan, then
golive.probes.https.check_domains), at most --concurrency connections in flight; it is timed in-process (warm)
and as a cold process (interpreter start, imports and trust-store load included, as a CI job pays it). The
servers run in a separate process (one asyncio loop, ECDSA P-256 chain from a local CA). Prints wall times
(median of the repeats), each column's ratio to its smallest size, and a PASS/FAIL line for the target "200
endpoints cost at most 3x one" on each golive column. Timings are measured here, never asserted in tests.

What the ratios measure: one endpoint costs a few round trips of latency, so "x one" is how far the concurrent
checks hide 200 endpoints' work behind that latency. Past a point they cannot: 200 endpoints are 1000 TLS
handshakes and 400 HTTP exchanges, CPU work that client and servers share on this machine's cores. The cold
column adds the fixed cost of starting a process to both sides of its ratio, which is what a CI job pays.
The openssl/curl loop checks that TLS 1.0/1.1 handshakes fail, not that its client offered them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROBE_PATH = "/api/health?redirect-probe=1"
TARGET_RATIO = 3.0
_HSTS = (b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nstrict-transport-security: max-age=31536000; "
         b"includeSubDomains\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")  # fmt: skip


def _redirect(https_port: int, path: bytes) -> bytes:
    return (b"HTTP/1.1 301 Moved Permanently\r\nlocation: https://127.0.0.1:%d%s\r\ncontent-length: 0\r\n"
            b"connection: close\r\n\r\n" % (https_port, path))  # fmt: skip


def serve(count: int, workdir: Path) -> None:
    """Run `count` HTTPS listeners and `count` plain-HTTP listeners (each redirecting to its HTTPS twin) on
    127.0.0.1 until stdin closes; print the CA file and the ports as one JSON line."""
    from golive.sandbox.edge import server_context
    from golive.sandbox.tls import create_local_ca

    ca = create_local_ca(workdir)
    context = server_context(ca.chain_file, ca.key_file)

    def handler(answer: bytes | int) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
                path = head.split(b" ", 2)[1]
                writer.write(answer if isinstance(answer, bytes) else _redirect(answer, path))
                await writer.drain()
            except (OSError, IndexError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
                pass
            finally:
                writer.close()

        return handle

    async def main() -> None:
        https = [await asyncio.start_server(handler(_HSTS), "127.0.0.1", 0, ssl=context, backlog=512)
                 for _ in range(count)]  # fmt: skip
        https_ports = [s.sockets[0].getsockname()[1] for s in https]
        plain = [await asyncio.start_server(handler(port), "127.0.0.1", 0, backlog=512) for port in https_ports]
        ports = {"https": https_ports, "http": [s.sockets[0].getsockname()[1] for s in plain]}
        print(json.dumps({"ca": str(ca.ca_file), **ports}), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

    asyncio.run(main())


def golive_checks(https_ports: list[int], http_ports: list[int], ca_file: str, concurrency: int) -> dict[str, int]:
    """The TLS + HTTP checks as golive's checks run them: one bounded concurrent scan (TLS-01..03), then the
    bounded concurrent redirect and HSTS checks of every domain (TLS-03)."""
    from golive.config import HttpSettings
    from golive.probes.http import make_client
    from golive.probes.https import EnforcementPolicy, check_domains, header_client
    from golive.probes.tls import CertPolicy, Endpoint, load_roots, scan

    endpoints = [Endpoint("127.0.0.1", port) for port in https_ports]
    results = scan(endpoints, load_roots(Path(ca_file)), CertPolicy(), timeout=5.0, concurrency=concurrency)
    settings = HttpSettings(timeout_s=5.0, connect_timeout_s=5.0, ca_bundle=Path(ca_file))
    policy = EnforcementPolicy(PROBE_PATH, 31536000, True)
    origins = [(f"https://{e}", port) for e, port in zip(endpoints, http_ports, strict=True)]
    with make_client(settings) as client, header_client(settings) as headers:
        domains = check_domains(client, headers, origins, policy, concurrency)
    return {
        "endpoints": len(endpoints),
        "bad_chain": sum(1 for r in results.values() if r.error or r.require().problems),
        "legacy_accepted": sum(1 for r in results.values() for v in r.require_versions() if v.accepted),
        "bad_hsts": sum(1 for d in domains if d.require_hsts().problems),
        "bad_redirect": sum(1 for d in domains if d.require_redirect().problems),
    }


def shell_loop(https_ports: list[int], http_ports: list[int], ca_file: str) -> int:
    """The same work as a plain sequential loop: openssl s_client (verify, -tls1, -tls1_1) and two curls."""
    failures = 0
    quiet = {"stdin": subprocess.DEVNULL, "capture_output": True, "timeout": 10}
    for port, http_port in zip(https_ports, http_ports, strict=True):
        target = f"127.0.0.1:{port}"
        chain = subprocess.run(["openssl", "s_client", "-connect", target, "-showcerts", "-CAfile", ca_file,
                                "-verify_return_error", "-verify_ip", "127.0.0.1"], **quiet)  # fmt: skip
        failures += chain.returncode != 0
        for flag in ("-tls1", "-tls1_1"):
            legacy = subprocess.run(["openssl", "s_client", "-connect", target, flag, "-cipher", "ALL:@SECLEVEL=0"],
                                    **quiet)  # fmt: skip
            failures += legacy.returncode == 0
        head = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-D", "-", "--cacert", ca_file,
                               f"https://{target}/"], **quiet)  # fmt: skip
        failures += b"strict-transport-security: max-age=31536000" not in head.stdout.lower()
        redirect = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}",
                                   f"http://127.0.0.1:{http_port}{PROBE_PATH}"], **quiet)  # fmt: skip
        failures += redirect.stdout.decode() != f"301 https://{target}{PROBE_PATH}"
    return failures


def _cold(https_ports: list[int], http_ports: list[int], ca_file: str, concurrency: int) -> dict[str, int]:
    code = f"import sys, json; sys.path.insert(0, {str(ROOT)!r}); from bench.tls_http import golive_checks; " \
           f"print(json.dumps(golive_checks({https_ports!r}, {http_ports!r}, {ca_file!r}, {concurrency})))"  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    return json.loads(done.stdout)


def _verdict(column: str, what: str, sizes: tuple[int, int], ratio: float) -> str:
    outcome = "PASS" if ratio <= TARGET_RATIO else "FAIL"
    return (f"{outcome}: target '{sizes[1]} endpoints cost at most {TARGET_RATIO:g}x {sizes[0]}' on the {column} "
            f"column ({what}): {ratio:.1f}x")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 50, 200])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.dir)
        return 0
    if not (shutil.which("openssl") and shutil.which("curl")):
        print("needs openssl and curl on PATH for the baseline", file=sys.stderr)
        return 2
    sizes = sorted(set(args.sizes))
    rows = []
    with tempfile.TemporaryDirectory(prefix="golive-bench-tls-") as tmp:
        server = subprocess.Popen([sys.executable, __file__, "--serve", str(sizes[-1]), "--dir", tmp],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
        try:
            assert server.stdout is not None
            info = json.loads(server.stdout.readline())
            ca_file = info["ca"]
            golive_checks(info["https"][:1], info["http"][:1], ca_file, args.concurrency)  # warm-up: imports
            for size in sizes:
                https_ports, http_ports = info["https"][:size], info["http"][:size]
                clean = {"endpoints": size, "bad_chain": 0, "legacy_accepted": 0, "bad_hsts": 0, "bad_redirect": 0}
                warm, cold, loop = [], [], []
                for _ in range(args.repeat):
                    started = time.perf_counter()
                    result = golive_checks(https_ports, http_ports, ca_file, args.concurrency)
                    warm.append(time.perf_counter() - started)
                    assert result == clean, result
                    started = time.perf_counter()
                    assert _cold(https_ports, http_ports, ca_file, args.concurrency) == clean
                    cold.append(time.perf_counter() - started)
                    started = time.perf_counter()
                    failures = shell_loop(https_ports, http_ports, ca_file)
                    loop.append(time.perf_counter() - started)
                    assert failures == 0, f"the openssl/curl loop saw {failures} failures"
                rows.append((size, *(statistics.median(x) for x in (warm, cold, loop))))
        finally:
            if server.stdin:
                server.stdin.close()
            server.wait(10)
    base = rows[0]
    print(f"TLS + HTTP checks, loopback, {os.cpu_count()} CPUs, golive concurrency {args.concurrency}, "
          f"median of {args.repeat}")  # fmt: skip
    header = ("endpoints", "golive warm s", "x one", "golive cold s", "x one", "openssl+curl s", "x one", "loop/cold")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for size, warm, cold, loop in rows:
        print(f"| {size} | {warm:.3f} | {warm / base[1]:.1f} | {cold:.3f} | {cold / base[2]:.1f} | {loop:.3f} | "
              f"{loop / base[3]:.1f} | {loop / cold:.1f} |")  # fmt: skip
    last, pair = rows[-1], (rows[0][0], rows[-1][0])
    print(_verdict("golive cold", "a run as a CI job pays it: process start, imports, trust store, the checks",
                   pair, last[2] / base[2]))  # fmt: skip
    print(_verdict("golive warm", "the checks alone in a running process: round trips for one endpoint, "
                   "handshake CPU for many", pair, last[1] / base[1]))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
