"""API tokens: shown once, stored only as a SHA-256 hash, expiring and revocable.

A token reads ``cst_<id>_<secret>``. The id is public (it names the token in listings and
revocation); the secret is 256 random bits, so a plain SHA-256 of the whole token is a safe
verifier (no password stretching is needed for a value nobody chose), and comparisons run in
constant time. Tokens are node-local credentials, never ledger entries: a ledger is public to
the consortium and credentials do not belong there.

A token acts for one person and is scoped to some of that person's roles (all of them by
default). Its effective roles are re-read on every request: the scope intersected with the
roles the person holds *now*, so taking a role away or deactivating someone takes effect at
once on every token they hold.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import JSON, Column, DateTime, Engine, String, insert, select, update
from sqlmodel import Field, SQLModel

from consortium.auth.people import effective_actor, get_person
from consortium.auth.roles import ROLES, Actor
from consortium.db.engine import writer
from consortium.errors import DomainError

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
    roles: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


TOKEN = ApiToken.__table__


@dataclass(frozen=True)
class TokenInfo:
    token_id: str
    actor: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    roles: list[str] | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None and _aware(self.expires_at) > datetime.now(UTC)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; every stored time is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def create_token(
    engine: Engine,
    actor: str,
    lifetime: timedelta = DEFAULT_LIFETIME,
    roles: list[str] | None = None,
) -> tuple[str, TokenInfo]:
    """Create a token for the person ``actor``; the plain token is returned here only.

    ``roles`` limits the token to some of the person's roles; None means all of them.
    """
    if lifetime <= timedelta(0):
        raise TokenError("a token's lifetime must be positive")
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    token_id = "".join(secrets.choice(alphabet) for _ in range(10))
    token = f"{PREFIX}_{token_id}_{secrets.token_urlsafe(32)}"
    now = datetime.now(UTC)
    with writer(engine).begin() as conn:
        try:
            person = get_person(conn, actor)
        except DomainError as exc:
            raise TokenError(exc.message) from exc
        if not person.active:
            raise TokenError(f"{actor!r} is deactivated")
        if roles is not None:
            unknown = sorted(set(roles) - set(person.roles))
            if unknown:
                raise TokenError(f"{actor!r} does not hold the role(s) {', '.join(unknown)}")
            roles = [r for r in ROLES if r in set(roles)]
        info = TokenInfo(token_id, actor, now, now + lifetime, None, roles)
        conn.execute(
            insert(TOKEN).values(
                token_id=token_id,
                actor=actor,
                secret_hash=_hash(token),
                created_at=now,
                expires_at=info.expires_at,
                roles=roles,
            )
        )
    return token, info


def authenticate(engine: Engine, token: str) -> Actor | None:
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
        return effective_actor(conn, row.actor, row.roles)


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
            r.roles,
        )
        for r in rows
    ]


def revoke_token(engine: Engine, token_id: str) -> None:
    with writer(engine).begin() as conn:
        done = conn.execute(
            update(TOKEN)
            .where(TOKEN.c.token_id == token_id, TOKEN.c.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
        )
        if done.rowcount != 1:
            raise TokenError(f"no active token with id {token_id!r}")
