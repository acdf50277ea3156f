"""Faithful stand-ins for the third-party services a go-live touches: Razorpay, Sentry, Slack and PagerDuty.

Each factory returns a Starlette app that answers like the real service (paths, auth, status codes, error
bodies); the sandbox mounts them on its own servers. They share one Store, the record of what arrived, and
consult one FaultSwitch on every request.
"""

from golive.sandbox.standins.alert_hooks import create_alerts_app
from golive.sandbox.standins.razorpay_api import create_razorpay_app
from golive.sandbox.standins.sentry_api import create_sentry_app
from golive.sandbox.standins.store import FaultSwitch, Store

__all__ = ["FaultSwitch", "Store", "create_alerts_app", "create_razorpay_app", "create_sentry_app"]
