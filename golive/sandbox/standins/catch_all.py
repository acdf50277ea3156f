"""The route a stand-in uses to answer every path and method itself, the way the real service words a miss."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def catch_all(endpoint: Callable[[Request], Awaitable[Response]]) -> Route:
    return Route("/{path:path}", endpoint, methods=METHODS)
