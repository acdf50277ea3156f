"""Razorpay's error envelope and the input rules the Razorpay stand-in enforces, with Razorpay's own wording.

Every error the stand-in sends is the real envelope:
{"error": {"code": "BAD_REQUEST_ERROR", "description": ..., "source", "step", "reason", "metadata": {}[, "field"]}}.
Rule failures carry source "business", step "payment_initiation", reason "input_validation_failed" and the
offending field; refusals before any rule runs (authentication, unknown URL, idempotency) carry "NA" there.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from starlette.datastructures import QueryParams
from starlette.requests import Request

CURRENCY = "INR"
MIN_AMOUNT = 100  # paise: "The amount must be at least INR 1.00"
MAX_PAGE = 100
DEFAULT_PAGE = 10

NO_API_KEY = "Please provide your api key for authentication purposes."
AUTHENTICATION_FAILED = "Authentication failed"
API_KEY_INVALID = "The api key provided is invalid"
API_SECRET_INVALID = "The api secret provided is invalid"
URL_NOT_FOUND = "The requested URL was not found on the server."
ID_DOES_NOT_EXIST = "The id provided does not exist"
AMOUNT_TOO_SMALL = "The amount must be at least INR 1.00"
CAPTURE_AMOUNT_MISMATCH = "Capture amount must be equal to the amount authorized"
ALREADY_CAPTURED = "This payment has already been captured"
NOT_AUTHORIZED = "Only payments which have been authorized and not yet captured can be captured"
ORDER_ALREADY_PAID = (
    "Your payment has been declined as the order is already paid. Please initiate the payment with a new order."
)
REFUND_TOO_LARGE = "The refund amount provided is greater than amount captured."
FULLY_REFUNDED = "The payment has been fully refunded already."
NOT_CAPTURED = "The payment has not been captured yet"
IDEMPOTENCY_KEY_TOO_SHORT = "The idempotency key must be at least 10 characters long."
IDEMPOTENCY_KEY_CHARACTERS = "The idempotency key must only contain alphanumeric characters, underscores, and hyphens"
IDEMPOTENCY_DIFFERENT_REQUEST = "Different request with the same idempotency key has already been processed."
IDEMPOTENCY_IN_PROGRESS = "Another request with the same idempotency key is still in progress."
BODY_NOT_OBJECT = "The request body should be a JSON object"

_IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9_-]+")
_INTEGER = re.compile(r"-?\d+")


class RazorpayError(Exception):
    """A request the stand-in answers with Razorpay's error envelope."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body["description"])
        self.status = status
        self.body = body


def invalid(description: str, field: str | None = None) -> RazorpayError:
    """A request that breaks one of Razorpay's business or input rules (HTTP 400)."""
    body: dict[str, Any] = {
        "code": "BAD_REQUEST_ERROR",
        "description": description,
        "source": "business",
        "step": "payment_initiation",
        "reason": "input_validation_failed",
        "metadata": {},
    }
    if field is not None:
        body["field"] = field
    return RazorpayError(400, body)


def refused(description: str, status: int) -> RazorpayError:
    """A request refused before any business rule runs: authentication, routing, idempotency."""
    body = {
        "code": "BAD_REQUEST_ERROR",
        "description": description,
        "source": "NA",
        "step": "NA",
        "reason": "NA",
        "metadata": {},
    }
    return RazorpayError(status, body)


async def json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object; an empty body is an empty object, as the SDK's GETs send none."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise invalid(BODY_NOT_OBJECT) from None
    if not isinstance(body, dict):
        raise invalid(BODY_NOT_OBJECT)
    return body


def reject_extra_fields(body: Mapping[str, Any], allowed: frozenset[str]) -> None:
    extra = [name for name in body if name not in allowed]
    if extra:
        raise invalid(f"{', '.join(extra)} is/are not required and should not be sent")


def amount_field(body: Mapping[str, Any], *, required: bool) -> int | None:
    """The amount in paise: a JSON integer (a string such as "100" is refused, as Razorpay does)."""
    if "amount" not in body:
        if required:
            raise invalid("The amount field is required.", "amount")
        return None
    amount = body["amount"]
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise invalid("The amount must be an integer.", "amount")
    if amount < MIN_AMOUNT:
        raise invalid(AMOUNT_TOO_SMALL, "amount")
    return amount


def currency_field(body: Mapping[str, Any]) -> str:
    if "currency" not in body:
        raise invalid("The currency field is required.", "currency")
    if body["currency"] != CURRENCY:
        raise invalid("The selected currency is invalid.", "currency")
    return CURRENCY


def receipt_field(body: Mapping[str, Any]) -> str | None:
    receipt = body.get("receipt")
    if receipt is None:
        return None
    if not isinstance(receipt, str):
        raise invalid("The receipt must be a string.", "receipt")
    if len(receipt) > 40:
        raise invalid("The receipt may not be greater than 40 characters.", "receipt")
    return receipt


def notes_field(body: Mapping[str, Any]) -> dict[str, Any] | list[Any]:
    """Notes as Razorpay echoes them: an object when populated, an empty list when not."""
    notes = body.get("notes")
    if not notes:
        return []
    if not isinstance(notes, dict):
        raise invalid("The notes must be an array.", "notes")
    if len(notes) > 15:
        raise invalid("The notes may not have more than 15 items.", "notes")
    return dict(notes)


def choice_field(body: Mapping[str, Any], name: str, choices: tuple[str, ...]) -> str:
    """An optional enumerated field; the first choice is the default."""
    value = body.get(name, choices[0])
    if value not in choices:
        raise invalid(f"The selected {name} is invalid.", name)
    return value


def capture_preference(body: Mapping[str, Any]) -> bool | None:
    """The order's payment_capture override of the account setting (true/false or 1/0), if given."""
    if "payment_capture" not in body:
        return None
    value = body["payment_capture"]
    if value not in (True, False, 0, 1):
        raise invalid("The payment capture field must be true or false.", "payment_capture")
    return bool(value)


def idempotency_key(request: Request) -> str | None:
    key = request.headers.get("x-refund-idempotency")
    if key is None:
        return None
    if len(key) < 10:
        raise refused(IDEMPOTENCY_KEY_TOO_SHORT, 400)
    if not _IDEMPOTENCY_KEY.fullmatch(key):
        raise refused(IDEMPOTENCY_KEY_CHARACTERS, 400)
    return key


def query_int(query: QueryParams, name: str, *, minimum: int = 0, maximum: int | None = None) -> int | None:
    """An integer query parameter of a collection (count, skip, from, to), None when absent."""
    raw = query.get(name)
    if raw is None:
        return None
    if not _INTEGER.fullmatch(raw):
        raise invalid(f"The {name} must be an integer.", name)
    value = int(raw)
    if value < minimum:
        raise invalid(f"The {name} must be at least {minimum}.", name)
    if maximum is not None and value > maximum:
        raise invalid(f"The {name} may not be greater than {maximum}.", name)
    return value
