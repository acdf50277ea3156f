"""Each stand-in on a real uvicorn server on 127.0.0.1, one shared Store, and a fault switch tests flip."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette

from golive.sandbox.standins import Store, create_alerts_app, create_razorpay_app, create_sentry_app
from golive.sandbox.tls import LocalCA
from tests.standins.accounts import (
    KEY_ID,
    KEY_SECRET,
    ROUTING_KEY,
    SENTRY_KEY,
    SENTRY_ORG,
    SENTRY_PROJECT,
    SENTRY_PROJECT_ID,
    SENTRY_TOKEN,
    SLACK_PATH,
    TIMEOUT,
    Faults,
)


@contextmanager
def serve(app: Starlette, tls: LocalCA | None = None) -> Iterator[str]:
    """Runs the app on a free loopback port in a background thread (over HTTPS with a certificate of the local
    CA when given); yields its base URL."""
    certificate = {"ssl_certfile": str(tls.chain_file), "ssl_keyfile": str(tls.key_file)} if tls else {}
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off", **certificate)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="standin-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the stand-in server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=TIMEOUT)


@pytest.fixture(scope="session")
def store() -> Store:
    return Store()


@pytest.fixture(scope="session")
def faults() -> Faults:
    return Faults()


@pytest.fixture(autouse=True)
def no_faults_left(faults: Faults) -> Iterator[None]:
    yield
    faults.active.clear()


@pytest.fixture(scope="session")
def razorpay_url(faults: Faults, store: Store) -> Iterator[str]:
    with serve(create_razorpay_app(KEY_ID, KEY_SECRET, faults, store)) as url:
        yield url


@pytest.fixture(scope="session")
def sentry_url(faults: Faults, store: Store) -> Iterator[str]:
    app = create_sentry_app(SENTRY_KEY, SENTRY_PROJECT_ID, SENTRY_TOKEN, SENTRY_ORG, SENTRY_PROJECT, faults, store)
    with serve(app) as url:
        yield url


@pytest.fixture(scope="session")
def alerts_url(faults: Faults, store: Store) -> Iterator[str]:
    with serve(create_alerts_app(SLACK_PATH, ROUTING_KEY, faults, store)) as url:
        yield url


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=TIMEOUT) as client:
        yield client
