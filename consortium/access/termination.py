"""Terminating a contract ends the grants that rest on it.

A grant is a right to use data under a contract; once no version of the contract is in force,
that right has nothing left to rest on. So the command that terminates a contract also
revokes, in the same transaction, every grant issued under any of its versions that is still
active or suspended: one ``grant.revoked`` entry each, whose reason names the contract, so a
reader of the ledger sees why, and each holder is told in the inbox (and by e-mail) as for any
revocation. Terminating only a pending amendment leaves the version in force, and its grants,
alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from consortium.access.grants import (
    ACTIVE,
    REASON_MAX,
    SUSPENDED,
    grants_of_contract,
    record_revocation,
)
from consortium.auth.roles import Actor
from consortium.contracts.lifecycle import ACTIVE as CONTRACT_ACTIVE
from consortium.contracts.lifecycle import CONTRACT, record_termination
from consortium.events import Event
from consortium.ledger.log import Ledger


@dataclass(frozen=True)
class EndedGrant:
    """A grant that ended with its contract: who held it, until when it would have run, and
    the ``grant.revoked`` entry that ended it."""

    grant: str
    holder: str
    valid_until: str
    entry: int


@dataclass(frozen=True)
class Termination:
    """What terminating did: the ``contract.terminated`` entry and the grants it ended."""

    contract: Event
    grants_ended: tuple[EndedGrant, ...]


def terminate_contract(
    ledger: Ledger, actor: Actor, contract_id: str, payload: dict
) -> Termination:
    """Terminate the contract (or one version, see `record_termination`) and, if no version
    remains in force, end every grant resting on it."""
    with ledger.transaction() as tx:
        terminated = record_termination(tx, actor, contract_id, payload)
        in_force = tx.conn.execute(
            select(CONTRACT.c.version).where(
                CONTRACT.c.id == contract_id, CONTRACT.c.status == CONTRACT_ACTIVE
            )
        ).first()
        if in_force is not None:
            return Termination(terminated, ())
        reason = _revocation_reason(contract_id, terminated.body["reason"])
        ended = tuple(
            EndedGrant(
                grant.id,
                grant.holder,
                grant.valid_until,
                record_revocation(tx, actor, grant.id, reason).index,
            )
            for grant in grants_of_contract(tx.conn, contract_id, (ACTIVE, SUSPENDED))
        )
        return Termination(terminated, ended)


def _revocation_reason(contract_id: str, reason: str) -> str:
    """The termination's reason, prefixed with the contract, within a revocation's limit."""
    text = f"contract {contract_id} was terminated: {reason}"
    return text if len(text) <= REASON_MAX else text[: REASON_MAX - 1] + "…"
