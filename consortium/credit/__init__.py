"""Credit and compensation: fair shares computed from verified ledgers.

The functions here are a library on their own — no database, no Flask, no ledger — so that
anyone can re-run a consortium's figures from its published inputs:

- `shapley` (exact or sampled) for any cooperative game, and `coverage_shapley`, its closed
  form for the "records contributed" game;
- the alternatives an alliance may choose instead: `proportional`, `leave_one_out`,
  `equal_split`;
- `flow`: credit flowing back to sources through the derivation graph, and `unit_flows`,
  where a unit given to each node comes to rest (flow is linear);
- `allocate` and `pay_out`: money split by weights to the exact cent, with minimum payouts
  carried over.
"""

from consortium.credit.allocation import Payout, allocate, pay_out
from consortium.credit.coverage import coverage_shapley
from consortium.credit.errors import CreditError
from consortium.credit.methods import equal_split, leave_one_out, proportional
from consortium.credit.provenance import flow, unit_flows
from consortium.credit.shapley import Shares, shapley

__all__ = [
    "CreditError",
    "Payout",
    "Shares",
    "allocate",
    "coverage_shapley",
    "equal_split",
    "flow",
    "leave_one_out",
    "pay_out",
    "proportional",
    "shapley",
    "unit_flows",
]
