"""The stand-in accounts the tests run against, and the tests' fault switch."""

from __future__ import annotations

TIMEOUT = 5.0

KEY_ID = "rzp_test_Sb1x7Yq2Lm9Pz4"
KEY_SECRET = "k8Vq2hRr5TtW1yZc3nM6pL0d"
SENTRY_KEY = "5f1d2c3b4a5968778695a4b3c2d1e0f9"
SENTRY_PROJECT_ID = "4242"
SENTRY_TOKEN = "sntrys_golive_sandbox_token"
SENTRY_ORG = "golive"
SENTRY_PROJECT = "sandbox-app"
SLACK_PATH = "/services/T0SANDBOX/B0SANDBOX/Xq7Lm2Np9Rs4Tv6Wy8Za1Bc3"
ROUTING_KEY = "R0123456789abcdef0123456789abcde"


class Faults:
    """The tests' fault switch: a set of active fault names."""

    def __init__(self) -> None:
        self.active: set[str] = set()

    def on(self, name: str) -> bool:
        return name in self.active
