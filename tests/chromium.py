"""Headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe): no port, no
websocket library, no browser download. Debian's `chromium` package is what the project's CI installs."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

# The flags a headless Chromium needs on a machine with a closed network, run as root, without a GPU.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--mute-audio",
)
_PIPE_READ_FD, _PIPE_WRITE_FD = 3, 4  # what --remote-debugging-pipe reads commands from and writes answers to


class BrowserError(RuntimeError):
    """Chromium is missing, did not start, or did not answer in time."""


def find_chromium() -> str | None:
    """The Chromium executable: $GOLIVE_CHROMIUM, else `chromium` / `chromium-browser` on PATH."""
    explicit = os.environ.get("GOLIVE_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).exists() else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Chromium:
    """One headless browser (fresh profile) with JavaScript on or off; open() pages, evaluate, screenshot."""

    def __init__(self, executable: str, *, javascript: bool, timeout: float = 30.0) -> None:
        self.executable = executable
        self.javascript = javascript
        self.timeout = timeout
        self._profile = tempfile.TemporaryDirectory(prefix="golive-chromium-")
        self._process: subprocess.Popen[bytes] | None = None
        self._to_browser = -1
        self._from_browser = -1
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict[str, Any]] = []

    def __enter__(self) -> Chromium:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        commands_read, commands_write = os.pipe()
        answers_read, answers_write = os.pipe()
        argv = [self.executable, *FLAGS, f"--user-data-dir={self._profile.name}", "--remote-debugging-pipe"]
        if not self.javascript:  # belt and braces: the page session also turns script execution off
            argv.append("--blink-settings=scriptEnabled=false")
        # The browser expects the pipe on fds 3 and 4: bash puts it there (dash takes single-digit fds only),
        # then becomes the browser.
        shell = f'exec "$@" {_PIPE_READ_FD}<&{commands_read} {_PIPE_WRITE_FD}>&{answers_write}'
        try:
            self._process = subprocess.Popen(
                ["bash", "-c", shell, "chromium", *argv],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                pass_fds=(commands_read, answers_write),
                start_new_session=True,
            )
        except OSError as error:
            raise BrowserError(f"could not start {self.executable}: {error}") from error
        finally:
            os.close(commands_read)
            os.close(answers_write)
        self._to_browser, self._from_browser = commands_write, answers_read
        self.call("Browser.getVersion")  # answers once the browser is up

    def stop(self) -> None:
        if self._process is not None:
            with contextlib.suppress(BrowserError):
                self._send("Browser.close", {})
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(10)
            self._process = None
        for fd in (self._to_browser, self._from_browser):
            if fd >= 0:
                os.close(fd)
        self._to_browser = self._from_browser = -1
        self._profile.cleanup()

    # --- the protocol
    def _send(self, method: str, params: dict[str, Any], session: str | None = None) -> int:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        try:
            os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        except OSError as error:
            raise BrowserError(f"the browser went away ({method}): {error}") from error
        return self._next_id

    def _receive(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError(f"the browser did not answer within {self.timeout:.0f} s")
            ready, _, _ = select.select([self._from_browser], [], [], left)
            if ready:
                chunk = os.read(self._from_browser, 1 << 20)
                if not chunk:
                    code = self._process.poll() if self._process else None
                    raise BrowserError(f"the browser closed its DevTools pipe (exit code {code})")
                self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        message: dict[str, Any] = json.loads(raw)
        return message

    def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        """Send one command and return its result (BrowserError on a protocol error or timeout)."""
        wanted = self._send(method, params or {}, session)
        deadline = time.monotonic() + self.timeout
        while True:
            message = self._receive(deadline)
            if message.get("id") == wanted:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            if "method" in message:
                self._events.append(message)

    def wait_event(self, method: str, session: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while True:
            for event in self._events:
                if event["method"] == method and event.get("sessionId") == session:
                    self._events.remove(event)
                    return event
            message = self._receive(deadline)
            if "method" in message:
                self._events.append(message)

    # --- pages
    def open(self, url: str, width: int, height: int) -> Page:
        """A new tab of width x height CSS pixels showing url, once its load event fired."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session)
        page.call("Page.enable")
        page.call("Emulation.setScriptExecutionDisabled", {"value": not self.javascript})
        # No scrollbar: the layout keeps its width when a screenshot captures beyond the viewport.
        page.call("Emulation.setScrollbarsHidden", {"hidden": True})
        page.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        page.call("Page.navigate", {"url": url})
        self.wait_event("Page.loadEventFired", session)
        return page


class Page:
    def __init__(self, browser: Chromium, session: str) -> None:
        self.browser = browser
        self.session = session

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.browser.call(method, params, self.session)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression, evaluated by DevTools (works with the page's scripts off)."""
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise BrowserError(f"evaluation failed: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def screenshot(self, path: Path, clip: dict[str, float] | None = None) -> Path:
        """A PNG of the viewport, or of clip (x, y, width, height in page pixels, beyond the viewport too)."""
        params: dict[str, Any] = {"format": "png"}
        if clip is not None:
            params["clip"] = {**clip, "scale": 1}
            params["captureBeyondViewport"] = True
        data = self.call("Page.captureScreenshot", params)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int] | None:
    """(width, height) of a complete PNG file (signature, IHDR first, IEND last), None for anything else."""
    data = path.read_bytes() if path.is_file() else b""
    if not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR" or not data.endswith(b"IEND\xaeB`\x82"):
        return None
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
