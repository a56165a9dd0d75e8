"""A member node's signed request in, the member's origin out, or a refusal that says why.

The order matters: the signature is checked (against the key `peers.member_key` names)
before the nonce is recorded, so nobody without a member's key can write a row; the nonce is
recorded before anything is answered, so a replay is refused even while the first copy is
still being served.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Engine

from consortium.errors import DomainError
from consortium.federation import nonces
from consortium.federation.peers import member_key
from consortium.federation.signatures import (
    ALGORITHM,
    LABEL,
    Request,
    SignatureError,
    verify_request,
)


class NotAMember(DomainError):
    """The request is not signed as the profile requires by a member this node knows."""

    status = 401
    title = "Unauthorized"

    @property
    def headers(self) -> dict[str, str]:
        # RFC 9421 section 5.1: what a signature must cover to be accepted.
        return {
            "Accept-Signature": f'{LABEL}=("@method" "@target-uri");created;expires;nonce;'
            f'keyid;alg="{ALGORITHM}"'
        }


def calling_member(
    engine: Engine,
    method: str,
    url: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    now: int,
) -> str:
    """The origin of the member node that signed the request (``url`` as it was addressed)
    at about ``now`` (Unix seconds); NotAMember, with the reason, for anything else.
    Writes only the nonce."""
    try:
        request = Request.of(method, url, headers, body)
        with engine.connect() as conn:
            verified = verify_request(request, lambda keyid: member_key(conn, keyid), now)
        nonces.remember(engine, verified, now)
    except SignatureError as exc:
        raise NotAMember(f"Refused node request: {exc}.") from exc
    return verified.keyid
