"""Calls to other member nodes, signed with this node's key (protocol §14).

Every request is signed afresh (a new nonce and ``created``), so a retry is a new request
and never a replay. A peer that is slow or down must not hold anything up for long: each
attempt has a timeout, and only idempotent GETs are retried, a bounded number of times, after
waits that double and are jittered (so that nodes that lost a peer together do not call it
again in step). Redirects are not followed: a signature covers the URI it was made for.
"""

from __future__ import annotations

import http.client
import json
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import Message
from typing import TYPE_CHECKING, Any

from consortium.crypto.keys import NodeKey
from consortium.federation.signatures import sign_request

if TYPE_CHECKING:
    from consortium.node import Node

RETRY_STATUSES = frozenset({429, 502, 503, 504})


class PeerError(Exception):
    """A member node could not be reached, or refused; the message says which and why."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_: Any, **__: Any) -> None:
        return None  # the 3xx comes back as it is


_OPENER = urllib.request.build_opener(_NoRedirects)


@dataclass
class NodeClient:
    """Signs and sends requests as member ``keyid`` with ``key``."""

    key: NodeKey
    keyid: str
    timeout: float = 10.0
    attempts: int = 3
    backoff: float = 0.5
    max_backoff: float = 8.0
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.SystemRandom)

    @classmethod
    def of(cls, node: Node, **options: Any) -> NodeClient:
        """A client that calls as ``node``."""
        return cls(node.key, node.origin, **options)

    def get(self, url: str) -> Reply:
        """GET ``url``, retrying when the peer cannot be reached or is briefly unable to
        answer (429, 502, 503, 504); PeerError once the attempts are spent."""
        for attempt in range(self.attempts):
            last = attempt == self.attempts - 1
            try:
                reply = self._send("GET", url, None)
            except PeerError:
                if last:
                    raise
                self.sleep(self._wait(attempt, None))
                continue
            if reply.status not in RETRY_STATUSES or last:
                return reply
            self.sleep(self._wait(attempt, reply.headers.get("Retry-After")))
        raise AssertionError("unreachable")  # pragma: no cover

    def post(self, url: str, body: bytes, content_type: str = "application/json") -> Reply:
        """POST ``body`` once: a change is never sent twice on the client's own initiative."""
        return self._send("POST", url, body, {"Content-Type": content_type})

    def get_json(self, url: str) -> Any:
        """The JSON a GET answers with; PeerError (with the peer's reason) for any other
        answer than 200."""
        reply = self.get(url)
        if reply.status != 200:
            raise PeerError(f"{url} answered {reply.status}: {_reason(reply)}", reply.status)
        try:
            return reply.json()
        except ValueError as exc:
            raise PeerError(f"{url} answered with something that is not JSON") from exc

    def _wait(self, attempt: int, retry_after: str | None) -> float:
        ceiling = min(self.max_backoff, self.backoff * 2**attempt)
        wait = self.rng.uniform(0, ceiling)
        if retry_after is not None and retry_after.isdigit():
            wait = max(wait, min(float(retry_after), self.max_backoff))
        return wait

    def _send(
        self, method: str, url: str, body: bytes | None, headers: Mapping[str, str] | None = None
    ) -> Reply:
        signed = sign_request(self.key, self.keyid, method, url, now=int(self.clock()), body=body)
        request = urllib.request.Request(
            url, data=body, headers={**(headers or {}), **signed}, method=method
        )
        try:
            with _OPENER.open(request, timeout=self.timeout) as answer:
                return Reply(answer.status, _headers(answer.headers), answer.read())
        except urllib.error.HTTPError as refused:
            with refused:
                return Reply(refused.code, _headers(refused.headers), refused.read())
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise PeerError(f"cannot reach {url}: {reason}") from exc


def _headers(message: Message) -> dict[str, str]:
    return {k.title(): v for k, v in message.items()}


def _reason(reply: Reply) -> str:
    try:
        problem = reply.json()
    except ValueError:
        return reply.body[:200].decode("utf-8", "replace")
    return str(problem.get("detail") or problem.get("title")) if isinstance(problem, dict) else ""
