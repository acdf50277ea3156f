"""Loopback network helpers for the project's tests: closed ports, black holes, tiny HTTP servers."""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def closed_port() -> int:
    """A loopback port nothing listens on (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def blackhole() -> Iterator[int]:
    """A loopback port that completes TCP handshakes (kernel backlog) but never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


@contextmanager
def tls_blackhole(chain: Path, key: Path) -> Iterator[int]:
    """A loopback port that completes TLS handshakes with the given certificate, reads the request and never
    answers (a hung handler behind TLS)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain, key)
    held: list[socket.socket] = []
    stop = threading.Event()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        sock.settimeout(0.2)

        def serve() -> None:
            while not stop.is_set():
                try:
                    conn, _ = sock.accept()
                    conn.settimeout(5)
                    held.append(context.wrap_socket(conn, server_side=True))
                except (TimeoutError, OSError, ssl.SSLError):
                    continue

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        try:
            yield sock.getsockname()[1]
        finally:
            stop.set()
            thread.join(timeout=2)
            for conn in held:
                conn.close()


Handler = Callable[[str, str, bytes], tuple[int, dict[str, str], bytes]]


@contextmanager
def http_server(handle: Handler, tls: tuple[Path, Path] | None = None) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 answering with handle(method, path, body); yields its base URL. With
    ``tls`` (a certificate chain and its key file) it speaks HTTPS."""

    class _Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            status, headers, body = handle(self.command, self.path, self.rfile.read(length))
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def json_answer(status: int, body: object) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()


@contextmanager
def dripping_server() -> Iterator[str]:
    """A loopback HTTP server that answers every request with 200 headers and then one byte a tenth of a second,
    never finishing the body (each read succeeds, so no read timeout ever trips); yields its base URL."""
    stop = threading.Event()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        listener.settimeout(0.2)

        def drip(conn: socket.socket) -> None:
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
                while not stop.is_set():
                    try:
                        conn.sendall(b" ")
                    except OSError:
                        return
                    stop.wait(0.1)

        def serve() -> None:
            while not stop.is_set():
                try:
                    conn, _ = listener.accept()
                except OSError:
                    continue
                threading.Thread(target=drip, args=(conn,), daemon=True).start()

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{listener.getsockname()[1]}"
        finally:
            stop.set()
            thread.join(timeout=2)


class PeakCounter:
    """Wraps a Handler: counts the requests it serves at once (each held ``hold_s``); ``peak`` is the most seen."""

    def __init__(self, handle: Handler, hold_s: float = 0.05) -> None:
        self._handle, self._hold_s = handle, hold_s
        self._lock = threading.Lock()
        self._active = 0
        self.peak = 0

    def __call__(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            self._active += 1
            self.peak = max(self.peak, self._active)
        time.sleep(self._hold_s)
        with self._lock:
            self._active -= 1
        return self._handle(method, path, body)
