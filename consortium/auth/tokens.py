"""API tokens: shown once, stored only as a SHA-256 hash, expiring and revocable.

A token reads ``cst_<id>_<secret>``. The id is public (it names the token in listings and
revocation); the secret is 256 random bits, so a plain SHA-256 of the whole token is a safe
verifier (no password stretching is needed for a value nobody chose), and comparisons run in
constant time. Tokens are node-local credentials, never ledger entries: a ledger is public to
the consortium and credentials do not belong there.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Column, DateTime, Engine, String, insert, select, update
from sqlmodel import Field, SQLModel

from consortium.ledger.entry import ACTOR_PATTERN

PREFIX = "cst"
DEFAULT_LIFETIME = timedelta(days=90)
_TOKEN_PATTERN = re.compile(r"^cst_([a-z0-9]{10})_([A-Za-z0-9_-]{43})$")


class TokenError(ValueError):
    """A token request that cannot be honoured (bad actor name, unknown token…)."""


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_token"

    token_id: str = Field(sa_column=Column(String(16), primary_key=True))
    actor: str = Field(sa_column=Column(String(128), nullable=False, index=True))
    secret_hash: str = Field(sa_column=Column(String(64), nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    revoked_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )


TOKEN = ApiToken.__table__


@dataclass(frozen=True)
class TokenInfo:
    token_id: str
    actor: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None and _aware(self.expires_at) > datetime.now(UTC)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; every stored time is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def create_token(
    engine: Engine, actor: str, lifetime: timedelta = DEFAULT_LIFETIME
) -> tuple[str, TokenInfo]:
    """Create a token for ``actor``; the plain token is returned here and nowhere else."""
    if not ACTOR_PATTERN.match(actor):
        raise TokenError(
            f"invalid actor name {actor!r}: use letters, digits and . _ @ : - (at most 128)"
        )
    if lifetime <= timedelta(0):
        raise TokenError("a token's lifetime must be positive")
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    token_id = "".join(secrets.choice(alphabet) for _ in range(10))
    token = f"{PREFIX}_{token_id}_{secrets.token_urlsafe(32)}"
    now = datetime.now(UTC)
    info = TokenInfo(token_id, actor, now, now + lifetime, None)
    with engine.begin() as conn:
        conn.execute(
            insert(TOKEN).values(
                token_id=token_id,
                actor=actor,
                secret_hash=_hash(token),
                created_at=now,
                expires_at=info.expires_at,
            )
        )
    return token, info


def authenticate(engine: Engine, token: str) -> str | None:
    """The actor a presented token stands for, or None if it is unknown, expired or revoked."""
    match = _TOKEN_PATTERN.match(token)
    if not match:
        return None
    with engine.connect() as conn:
        row = conn.execute(select(TOKEN).where(TOKEN.c.token_id == match.group(1))).first()
    if row is None or not hmac.compare_digest(row.secret_hash, _hash(token)):
        return None
    if row.revoked_at is not None or _aware(row.expires_at) <= datetime.now(UTC):
        return None
    return row.actor


def list_tokens(engine: Engine) -> list[TokenInfo]:
    with engine.connect() as conn:
        rows = conn.execute(select(TOKEN).order_by(TOKEN.c.created_at)).all()
    return [
        TokenInfo(
            r.token_id,
            r.actor,
            _aware(r.created_at),
            _aware(r.expires_at),
            r.revoked_at and _aware(r.revoked_at),
        )
        for r in rows
    ]


def revoke_token(engine: Engine, token_id: str) -> None:
    with engine.begin() as conn:
        done = conn.execute(
            update(TOKEN)
            .where(TOKEN.c.token_id == token_id, TOKEN.c.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
        )
        if done.rowcount != 1:
            raise TokenError(f"no active token with id {token_id!r}")
