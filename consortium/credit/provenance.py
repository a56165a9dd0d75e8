"""Credit flowing back through the derivation graph.

An output or a derived dataset names its sources with weights. Credit given to it passes to
its sources in proportion to those weights (after it keeps the part its own makers earned,
if any), and on, until it reaches original data. The flow is computed once per node in
topological order, so a source reached by two paths (a diamond) receives the sum of what the
two paths carry and nothing is counted twice: the total credit that enters the graph is the
total that comes to rest. A cycle — a dataset derived, however indirectly, from itself — has
no meaningful answer and is refused, naming the cycle.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from fractions import Fraction
from graphlib import CycleError, TopologicalSorter

from consortium.credit.errors import CreditError
from consortium.credit.shapley import Number


def _fraction(value: object, what: str) -> Fraction:
    try:
        result = Fraction(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise CreditError(f"{what} is not a number: {value!r}") from exc
    return result


def _prepare(
    sources: Mapping[Hashable, Mapping[Hashable, Number]], keep: Number
) -> tuple[Fraction, dict[Hashable, dict[Hashable, Fraction]], list[Hashable]]:
    """The kept fraction, each node's normalised source shares, and the nodes in topological
    order (sources first); raises `CreditError` for anything `flow` refuses."""
    kept = _fraction(keep, "keep")
    if not 0 <= kept <= 1:
        raise CreditError(f"keep must be between 0 and 1, not {keep}")
    split: dict[Hashable, dict[Hashable, Fraction]] = {}
    for node, weights in sources.items():
        if not weights:
            continue
        exact = {s: _fraction(w, f"the weight of {s!r} in {node!r}") for s, w in weights.items()}
        if any(w < 0 for w in exact.values()):
            raise CreditError(f"{node!r} has a negative source weight")
        total = sum(exact.values(), Fraction(0))
        if total == 0:
            raise CreditError(f"the source weights of {node!r} add up to zero")
        split[node] = {s: w / total for s, w in exact.items()}
    try:
        order = list(TopologicalSorter({n: set(s) for n, s in split.items()}).static_order())
    except CycleError as exc:
        cycle = " → ".join(str(n) for n in reversed(exc.args[1]))
        raise CreditError(
            f"the derivation graph has a cycle (each derived from the next): {cycle}"
        ) from exc
    return kept, split, order


def flow(
    credit: Mapping[Hashable, Number],
    sources: Mapping[Hashable, Mapping[Hashable, Number]],
    keep: Number = 0,
) -> dict[Hashable, Fraction]:
    """Where ``credit`` comes to rest once it has flowed from each node to its sources.

    ``sources[node]`` maps each of the node's direct sources to its weight. A node with
    sources keeps the fraction ``keep`` of what reaches it (0: it passes everything on) and
    passes the rest on by the weights; a node without sources keeps everything. Raises
    `CreditError` for a cycle, negative weights or credit, a ``keep`` outside [0, 1], or
    weights that sum to zero.
    """
    kept, split, order = _prepare(sources, keep)
    amount: dict[Hashable, Fraction] = {}
    for node, value in credit.items():
        given = _fraction(value, f"the credit of {node!r}")
        if given < 0:
            raise CreditError(f"the credit of {node!r} is negative")
        amount[node] = amount.get(node, Fraction(0)) + given
    rest: dict[Hashable, Fraction] = {}
    for node in [*reversed(order), *(n for n in amount if n not in split and n not in order)]:
        here = amount.pop(node, Fraction(0))
        if node not in split:
            if here:
                rest[node] = rest.get(node, Fraction(0)) + here
            continue
        if here * kept:
            rest[node] = rest.get(node, Fraction(0)) + here * kept
        passed = here * (1 - kept)
        for source, share in split[node].items():
            amount[source] = amount.get(source, Fraction(0)) + passed * share
    return rest


def unit_flows(
    sources: Mapping[Hashable, Mapping[Hashable, Number]], keep: Number = 0
) -> dict[Hashable, dict[Hashable, Fraction]]:
    """For every node with sources, where one unit of credit given to it comes to rest.

    Flow is linear: credit given to any mix of nodes comes to rest as the same mix of these
    (a node without sources keeps its unit). Computing them all at once, sources first, takes
    one pass over the graph, where calling `flow` for each of many events would walk the
    whole graph every time. Refuses what `flow` refuses.
    """
    kept, split, order = _prepare(sources, keep)
    rests: dict[Hashable, dict[Hashable, Fraction]] = {}
    for node in order:
        if node not in split:
            continue
        here: dict[Hashable, Fraction] = {node: kept} if kept else {}
        for source, share in split[node].items():
            for place, part in rests.get(source, {source: Fraction(1)}).items():
                here[place] = here.get(place, Fraction(0)) + (1 - kept) * share * part
        rests[node] = here
    return rests
