"""golive's sandbox: a real stand-in production on loopback (PostgreSQL primary + replica, the reference app
over HTTPS with a canary, Razorpay/Sentry/alerting stand-ins) that golive starts and stops itself.

In-process: `with Sandbox(workdir) as sandbox: sandbox.environ()`. As a daemon for the CLI: up, status, down.
"""

from golive.sandbox.app import Release
from golive.sandbox.daemon import deploy, down, status, up
from golive.sandbox.faults import FAULTS, Fault, FaultState
from golive.sandbox.runtime import SENTRY_ORG, SENTRY_PROJECT, SMOKE_USER, Sandbox, SandboxError

__all__ = [
    "FAULTS",
    "SENTRY_ORG",
    "SENTRY_PROJECT",
    "SMOKE_USER",
    "Fault",
    "FaultState",
    "Release",
    "Sandbox",
    "SandboxError",
    "deploy",
    "down",
    "status",
    "up",
]
