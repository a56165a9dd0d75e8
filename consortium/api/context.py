"""Access to the node from request handlers, and the authenticated actor."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import current_app, g, request
from flask_smorest import abort

from consortium.auth.roles import Actor
from consortium.auth.tokens import authenticate
from consortium.disclosure.readers import Reader
from consortium.federation.inbound import calling_member
from consortium.node import Node

F = TypeVar("F", bound=Callable[..., Any])
BEARER = "bearerAuth"


def node() -> Node:
    return current_app.extensions["consortium.node"]


def _unauthorized() -> None:
    abort(
        401,
        message="A valid API token is required: send `Authorization: Bearer <token>`.",
        headers={"WWW-Authenticate": 'Bearer realm="consortium"'},
    )


def optional_actor() -> Actor | None:
    """The request's actor, None when it sends no credentials; 401 for bad credentials.

    A bad token is refused rather than treated as anonymous, so a client with an expired
    token is told so instead of silently seeing less.
    """
    if "actor" in g:
        return g.actor
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    who = authenticate(node().engine, token.strip()) if scheme.lower() == "bearer" else None
    if who is None:
        _unauthorized()
    g.actor = who
    return who


def signed_by_member() -> bool:
    """Whether the request carries a node's signature (checked by `member`)."""
    return "Signature-Input" in request.headers or "Signature" in request.headers


def member() -> str:
    """The origin of the member node that signed the request; 401 (problem+json, with the
    reason) for an unknown member, a bad, expired or future-dated signature or a replay.

    The target URI is rebuilt as the caller addressed it: the scheme and host this node was
    reached by (behind a proxy, what ``trusted_proxies`` lets it forward) and the path and
    query exactly as sent.
    """
    if "member" in g:
        return g.member
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or ""
    if not raw.startswith("/"):  # not sent in origin form: rebuild it from the parsed parts
        raw = request.script_root + request.full_path.removesuffix("?")
    g.member = calling_member(
        node().engine,
        request.method,
        f"{request.scheme}://{request.host}{raw}",
        request.headers.items(),
        request.get_data(cache=True),
        int(node().ledger.clock().timestamp()),
    )
    return g.member


def reader() -> Reader:
    """Who reads sealed documents: a member node that signed the request, or the person
    behind its token (or nobody). Both at once is refused: a request speaks for one."""
    if signed_by_member():
        if "Authorization" in request.headers:
            abort(400, message="Send a node's signature or a bearer token, not both.")
        return Reader(member=member())
    return Reader(optional_actor())


def actor() -> Actor:
    return g.actor


def require_actor(*roles: str) -> Callable[[F], F]:
    """401 without a valid token; 403 unless the actor holds one of ``roles`` (if given).

    Applied above the argument parser, so credentials are checked before the body is.
    """

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            who = optional_actor()
            if who is None:
                _unauthorized()
            assert who is not None
            if roles and not who.has(*roles):
                abort(403, message=f"This needs the role {' or '.join(roles)}.")
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def body() -> dict[str, Any]:
    """The raw JSON body, for the domain to load with the same schema the route documents."""
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else {}
