"""The progress relay's file: readable by its owner only, and never holding a secret."""

import stat

from golive.progress import ProgressRelay, append_line
from golive.secrets import SecretRegistry


def test_the_relay_file_is_the_owners_only(tmp_path):
    fresh = ProgressRelay(tmp_path / "fresh.log", print, poll_s=0.01)
    existing = tmp_path / "existing.log"
    existing.write_text("")
    existing.chmod(0o644)
    old = ProgressRelay(existing, print, poll_s=0.01)
    for relay in (fresh, old):
        relay.start()
        try:
            assert stat.S_IMODE(relay.path.stat().st_mode) == 0o600, relay.path
        finally:
            relay.stop()


def test_a_line_is_scrubbed_before_it_reaches_the_file_and_the_terminal(tmp_path):
    registry = SecretRegistry()
    registry.add("DATABASE_URL", "postgresql://app:PLANTpw0123456789@db.invalid/app")
    printed: list[str] = []
    relay = ProgressRelay(tmp_path / "progress.log", printed.append, poll_s=0.01)
    relay.start()
    append_line(relay.path, "canary 1/6 error  postgresql://app:PLANTpw0123456789@db.invalid/app refused", registry)
    assert "PLANTpw" not in relay.path.read_text()
    relay.stop()
    assert printed == ["canary 1/6 error  [DATABASE_URL ****] refused"]
