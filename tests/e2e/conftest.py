import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from golive.sandbox import Sandbox
from tests.e2e.harness import SANDBOXES, STARTED


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """One real sandbox per test process (PostgreSQL + replica, the app over HTTPS, the stand-ins)."""
    with Sandbox(tmp_path_factory.mktemp("sandbox")) as box:
        SANDBOXES[str(box.workdir)] = box
        STARTED[str(box.workdir)] = time.monotonic()
        yield box
        SANDBOXES.pop(str(box.workdir), None)


@pytest.fixture
def healthy(sandbox: Sandbox) -> Iterator[Sandbox]:
    sandbox.set_faults(())
    yield sandbox
    sandbox.set_faults(())


@pytest.fixture
def reports(tmp_path: Path) -> Path:
    return tmp_path / "reports"
