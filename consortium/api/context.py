"""Access to the node from request handlers, and the authenticated actor."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import current_app, g, request
from flask_smorest import abort

from consortium.auth.tokens import authenticate
from consortium.node import Node

F = TypeVar("F", bound=Callable[..., Any])
BEARER = "bearerAuth"


def node() -> Node:
    return current_app.extensions["consortium.node"]


def actor() -> str:
    return g.actor


def require_actor(view: F) -> F:
    """Refuse the request with 401 unless it carries a valid, unexpired, unrevoked token."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        who = authenticate(node().engine, token.strip()) if scheme.lower() == "bearer" else None
        if who is None:
            abort(
                401,
                message="A valid API token is required: send `Authorization: Bearer <token>`.",
                headers={"WWW-Authenticate": 'Bearer realm="consortium"'},
            )
        g.actor = who
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
