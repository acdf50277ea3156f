"""Benchmark: golive's TLS + HTTP checks over 1, 50 and 200 loopback HTTPS endpoints, against the same work done
by a plain sequential `openssl s_client` + `curl` loop, side by side.

    python bench/tls_http.py [--sizes 1 50 200] [--repeat 3] [--concurrency 16]

The work per endpoint, both ways: fetch and verify the chain the server sends, try a TLS 1.0 and a TLS 1.1
handshake (both must be refused), and GET / over verified HTTPS to read Strict-Transport-Security.
golive does it with its probes (golive.probes.tls.scan + golive.probes.https.check_hsts), concurrently with at
most --concurrency connections in flight; it is timed in-process (warm) and as a cold process (interpreter start,
imports and trust-store load included, as a CI job pays it). The servers run in a separate process (one asyncio
loop, ECDSA P-256 chain from a local CA). Prints wall times (median of the repeats) and each column's ratio to
its 1-endpoint time. Timings are measured here, never asserted in tests.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

_RESPONSE = (b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nstrict-transport-security: max-age=31536000; "
             b"includeSubDomains\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")  # fmt: skip


def serve(count: int, workdir: Path) -> None:
    """Run `count` HTTPS listeners on 127.0.0.1 until stdin closes; print their ports as one JSON line."""
    from golive.sandbox.edge import server_context
    from golive.sandbox.tls import create_local_ca

    ca = create_local_ca(workdir)
    context = server_context(ca.chain_file, ca.key_file)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            writer.write(_RESPONSE)
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        servers = [await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context, backlog=512) for _ in range(count)]
        print(
            json.dumps({"ca": str(ca.ca_file), "ports": [s.sockets[0].getsockname()[1] for s in servers]}), flush=True
        )
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

    asyncio.run(main())


def golive_checks(ports: list[int], ca_file: str, concurrency: int) -> dict[str, int]:
    """The TLS + HTTP checks as golive runs them: one bounded concurrent scan, then bounded concurrent HSTS GETs."""
    import ssl
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    from golive.probes.https import check_hsts
    from golive.probes.tls import CertPolicy, Endpoint, load_roots, scan

    endpoints = [Endpoint("127.0.0.1", port) for port in ports]
    results = scan(endpoints, load_roots(Path(ca_file)), CertPolicy(), timeout=5.0, concurrency=concurrency)
    verify = ssl.create_default_context(cafile=ca_file)
    limits = httpx.Limits(max_connections=concurrency)
    with (
        httpx.Client(verify=verify, timeout=httpx.Timeout(5.0), limits=limits) as client,
        ThreadPoolExecutor(concurrency) as pool,
    ):
        hsts = list(pool.map(lambda e: check_hsts(client, f"https://{e}/", 31536000, True), endpoints))
    bad_chain = sum(1 for r in results.values() if r.error or r.require().problems)
    legacy = sum(1 for r in results.values() for v in r.versions if v.accepted)
    return {"endpoints": len(endpoints), "bad_chain": bad_chain, "legacy_accepted": legacy,
            "bad_hsts": sum(1 for h in hsts if h.problems)}  # fmt: skip


def shell_loop(ports: list[int], ca_file: str) -> int:
    """The same work as a plain sequential loop: openssl s_client (verify, -tls1, -tls1_1) and curl per endpoint."""
    failures = 0
    quiet = {"stdin": subprocess.DEVNULL, "capture_output": True, "timeout": 10}
    for port in ports:
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
    return failures


def _cold(ports: list[int], ca_file: str, concurrency: int) -> dict[str, int]:
    code = f"import sys, json; sys.path.insert(0, {str(ROOT)!r}); from bench.tls_http import golive_checks; " \
           f"print(json.dumps(golive_checks({ports!r}, {ca_file!r}, {concurrency})))"  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    return json.loads(done.stdout)


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
    rows = []
    with tempfile.TemporaryDirectory(prefix="golive-bench-tls-") as tmp:
        server = subprocess.Popen([sys.executable, __file__, "--serve", str(max(args.sizes)), "--dir", tmp],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
        try:
            assert server.stdout is not None
            info = json.loads(server.stdout.readline())
            ports, ca_file = info["ports"], info["ca"]
            golive_checks(ports[:1], ca_file, args.concurrency)  # warm-up: imports, first contexts
            for size in args.sizes:
                subset = ports[:size]
                warm, cold, loop = [], [], []
                for _ in range(args.repeat):
                    started = time.perf_counter()
                    result = golive_checks(subset, ca_file, args.concurrency)
                    warm.append(time.perf_counter() - started)
                    assert result == {"endpoints": size, "bad_chain": 0, "legacy_accepted": 0, "bad_hsts": 0}, result
                    started = time.perf_counter()
                    _cold(subset, ca_file, args.concurrency)
                    cold.append(time.perf_counter() - started)
                    started = time.perf_counter()
                    failures = shell_loop(subset, ca_file)
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
