"""What the sandbox stand-ins received, shared between them, and the switch that names the active faults.

The stand-ins run on uvicorn threads while golive's checks and tests read the record from other threads,
so every write and every snapshot goes through the store's lock.
"""

from __future__ import annotations

import secrets
import string
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

AlertChannel = Literal["slack", "pagerduty"]

_ID_ALPHABET = string.ascii_letters + string.digits


def new_entity_id(prefix: str = "") -> str:
    """A Razorpay-style id: the prefix, then 14 case-sensitive alphanumeric characters."""
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(14))


class FaultSwitch(Protocol):
    """Answers whether a named sandbox fault is active; stand-ins ask on every request."""

    def on(self, name: str) -> bool: ...


@dataclass
class Store:
    """The in-memory record shared by the stand-ins.

    alerts: every accepted alert, {'channel': 'slack'|'pagerduty', 'payload': <request JSON>, 'received_at'}.
    sentry_events: every event the Sentry ingest answered 200 for, {'event_id', 'tags', 'message', 'level',
        'release', 'environment', 'platform', 'type' ('error' with an exception), 'timestamp', 'received_at',
        'visible'}; 'visible' is False when
        the event was dropped after ingest (fault sentry-event-lost) and so never reaches the web API.
    sentry_releases: the releases Sentry knows, by version ({'version', 'dateCreated'}): created by a deploy
        (add_sentry_release, as `sentry-cli releases new` does) or by the first event that names one.
    razorpay_webhooks: the account's webhook entities that GET /v1/webhooks lists; add with add_razorpay_webhook.
    razorpay_deliveries: every webhook delivery the Razorpay stand-in attempted, {'event', 'event_id', 'url',
        'attempt', 'status' (None when no answer), 'error', 'at'}.
    razorpay_auto_capture: the account's capture setting (Razorpay's default is automatic capture).
    razorpay_refunds: every refund the Razorpay stand-in booked, {'refund_id', 'payment_id', 'amount',
        'idempotency_key' (the X-Refund-Idempotency header, None when not sent), 'replays' (requests with that
        key answered with this refund since), 'at'}.
    """

    alerts: list[dict[str, Any]] = field(default_factory=list)
    sentry_events: list[dict[str, Any]] = field(default_factory=list)
    sentry_releases: dict[str, dict[str, Any]] = field(default_factory=dict)
    razorpay_webhooks: list[dict[str, Any]] = field(default_factory=list)
    razorpay_deliveries: list[dict[str, Any]] = field(default_factory=list)
    razorpay_auto_capture: bool = True
    razorpay_refunds: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    _deliveries_in_flight: int = field(default=0, repr=False, compare=False)

    def record_alert(self, channel: AlertChannel, payload: dict[str, Any]) -> None:
        with self.lock:
            self.alerts.append({"channel": channel, "payload": payload, "received_at": time.time()})

    def alerts_on(self, channel: AlertChannel) -> list[dict[str, Any]]:
        with self.lock:
            return [alert for alert in self.alerts if alert["channel"] == channel]

    def record_sentry_event(self, event: dict[str, Any]) -> None:
        with self.lock:
            self.sentry_events.append(event)

    def add_sentry_release(self, version: str) -> None:
        """The release exists in Sentry from now on (the first creation's date is kept)."""
        with self.lock:
            self.sentry_releases.setdefault(version, {"version": version, "dateCreated": time.time()})

    def sentry_release(self, version: str) -> dict[str, Any] | None:
        with self.lock:
            found = self.sentry_releases.get(version)
            return dict(found) if found is not None else None

    def visible_sentry_events(self) -> list[dict[str, Any]]:
        """Every event the web API shows (those lost after ingest left out)."""
        with self.lock:
            return [event for event in self.sentry_events if event["visible"]]

    def visible_sentry_event(self, event_id: str) -> dict[str, Any] | None:
        with self.lock:
            for event in self.sentry_events:
                if event["event_id"] == event_id and event["visible"]:
                    return event
        return None

    def add_razorpay_webhook(
        self,
        url: str,
        events: Iterable[str],
        *,
        active: bool = True,
        secret: str | None = None,
    ) -> dict[str, Any]:
        """Configures one webhook on the stand-in account, as the Razorpay Dashboard would.

        With a secret the stand-in delivers the subscribed events to url, signed. The listing never shows the
        secret, nor whether there is one: GET /v1/webhooks has no secret_exists (only the partner API reports it).
        """
        now = int(time.time())
        webhook = {
            "id": new_entity_id(),
            "created_at": now,
            "updated_at": now,
            "owner_type": "merchant",
            "context": [],
            "disabled_at": 0 if active else now,
            "url": url,
            "alert_email": None,
            "entity": "webhook",
            "active": active,
            "events": dict.fromkeys(events, True),
            "_secret": secret,
        }
        with self.lock:
            self.razorpay_webhooks.append(webhook)
        return webhook

    def razorpay_webhook_list(self) -> list[dict[str, Any]]:
        """The webhooks as the API lists them (the secret itself is never shown)."""
        with self.lock:
            return [{k: v for k, v in webhook.items() if k != "_secret"} for webhook in self.razorpay_webhooks]

    def razorpay_webhook_targets(self, event: str) -> list[tuple[str, str | None]]:
        """(url, secret) of every active webhook subscribed to event: where the stand-in delivers it."""
        with self.lock:
            return [
                (webhook["url"], webhook.get("_secret"))
                for webhook in self.razorpay_webhooks
                if webhook["active"] and webhook["events"].get(event)
            ]

    def record_razorpay_delivery(self, delivery: dict[str, Any]) -> None:
        with self.lock:
            self.razorpay_deliveries.append(delivery)

    def razorpay_delivery_started(self) -> None:
        with self.lock:
            self._deliveries_in_flight += 1

    def razorpay_delivery_ended(self) -> None:
        with self.lock:
            self._deliveries_in_flight -= 1

    def wait_for_deliveries(self, timeout_s: float) -> bool:
        """Wait until no webhook delivery (retries included) is in flight; False when timeout_s passed first."""
        deadline = time.monotonic() + timeout_s
        while True:
            with self.lock:
                if self._deliveries_in_flight == 0:
                    return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def record_razorpay_refund(self, refund_id: str, payment_id: str, amount: int, idempotency_key: str | None) -> None:
        refund = {"refund_id": refund_id, "payment_id": payment_id, "amount": amount,
                  "idempotency_key": idempotency_key, "replays": 0, "at": time.time()}  # fmt: skip
        with self.lock:
            self.razorpay_refunds.append(refund)

    def record_razorpay_refund_replay(self, refund_id: str) -> None:
        with self.lock:
            for refund in self.razorpay_refunds:
                if refund["refund_id"] == refund_id:
                    refund["replays"] += 1

    def razorpay_refund(self, refund_id: str) -> dict[str, Any] | None:
        """What the stand-in recorded when it booked the refund (a copy), or None."""
        with self.lock:
            found = [dict(refund) for refund in self.razorpay_refunds if refund["refund_id"] == refund_id]
        return found[0] if found else None
