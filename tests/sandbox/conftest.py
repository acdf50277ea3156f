from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Iterator

import httpx
import psycopg
import pytest

from golive.sandbox import Sandbox

START_TIMES = pytest.StashKey[list[str]]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[START_TIMES] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """Start times are printed, never asserted."""
    for line in config.stash[START_TIMES]:
        terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def start_times(pytestconfig: pytest.Config) -> list[str]:
    """Lines like "what started in 1.23 s", printed at the end of the run."""
    return pytestconfig.stash[START_TIMES]


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory, start_times: list[str]) -> Iterator[Sandbox]:
    """One real sandbox shared by the whole session."""
    started = time.perf_counter()
    with Sandbox(tmp_path_factory.mktemp("sandbox")) as box:
        start_times.append(f"in-process sandbox started in {time.perf_counter() - started:.2f} s")
        yield box


@pytest.fixture(scope="session")
def env(sandbox: Sandbox) -> dict[str, str]:
    """The environ of the sandbox without faults."""
    sandbox.set_faults(())
    return sandbox.environ()


@pytest.fixture(scope="session")
def https(env: dict[str, str]) -> Iterator[httpx.Client]:
    """An HTTPS client that trusts the sandbox's root CA only."""
    verify = ssl.create_default_context(cafile=env["GOLIVE_SANDBOX_CA"])
    with httpx.Client(verify=verify, timeout=httpx.Timeout(10.0)) as client:
        yield client


@pytest.fixture
def switch(sandbox: Sandbox) -> Iterator[Callable[..., None]]:
    """Switch faults on for one test; all faults are off again afterwards."""
    yield lambda *names: sandbox.set_faults(names)
    sandbox.set_faults(())


@pytest.fixture
def db(env: dict[str, str]) -> Iterator[psycopg.Connection]:
    """The app role on the primary, through DATABASE_URL (verify-full TLS), autocommit."""
    with psycopg.connect(env["DATABASE_URL"], autocommit=True) as conn:
        yield conn
