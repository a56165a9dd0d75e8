"""RFC 6962 / RFC 9162 Merkle tree hashing and proofs, on raw 32-byte SHA-256 digests.

This module is pure: no I/O, no database, no dependency outside the standard library, so any
tool (an auditor's script, another node, a test) can import it on its own.

Two layers live here:

* the list-based reference functions named in the protocol (`root_hash`, `inclusion_proof`,
  `consistency_proof`) and the verifiers (`verify_inclusion`, `verify_consistency`);
* the *proof plan* functions (`inclusion_ranges`, `consistency_ranges`, `range_nodes`,
  `fold_nodes`) that say which stored subtree hashes a proof needs. The ledger uses them to
  answer proofs from its stored tree state in O(log n) lookups instead of rehashing the log.

A *node* is identified by ``(level, index)``: the complete subtree of ``2**level`` leaves
starting at leaf ``index * 2**level``. Level 0 nodes are leaf hashes.

Verifiers never raise on malformed input: anything that is not a correct proof is ``False``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()

Node = tuple[int, int]
Range = tuple[int, int]


def leaf_hash(data: bytes) -> bytes:
    """Hash of a leaf: SHA-256(0x00 ‖ data)."""
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Hash of an interior node: SHA-256(0x01 ‖ left ‖ right)."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly less than ``n`` (``n >= 2``), as RFC 6962 splits."""
    return 1 << ((n - 1).bit_length() - 1)


# --- proof plans ---------------------------------------------------------------------------


def inclusion_ranges(index: int, tree_size: int) -> list[Range]:
    """Leaf ranges ``[start, end)`` whose subtree hashes form the inclusion proof, in order.

    Follows PATH(m, D[n]) of RFC 6962 section 2.1.1; the first range is the one nearest the leaf.
    """
    if not 0 <= index < tree_size:
        raise ValueError(f"index {index} is outside a tree of size {tree_size}")
    ranges: list[Range] = []
    start, size, m = 0, tree_size, index
    while size > 1:
        k = _split(size)
        if m < k:
            ranges.append((start + k, start + size))
            size = k
        else:
            ranges.append((start, start + k))
            start, size, m = start + k, size - k, m - k
    ranges.reverse()
    return ranges


def consistency_ranges(old_size: int, new_size: int) -> list[Range]:
    """Leaf ranges whose subtree hashes form the consistency proof, in order.

    Follows SUBPROOF(m, D[n], b) of RFC 6962 section 2.1.2. Empty when ``old_size`` is 0 or equal
    to ``new_size`` (nothing to prove).
    """
    if not 0 <= old_size <= new_size:
        raise ValueError(f"cannot prove {old_size} -> {new_size}")
    if old_size in (0, new_size):
        return []
    ranges: list[Range] = []
    start, size, m, complete = 0, new_size, old_size, True
    while m != size:
        k = _split(size)
        if m <= k:
            ranges.append((start + k, start + size))
            size = k
        else:
            ranges.append((start, start + k))
            start, size, m, complete = start + k, size - k, m - k, False
    if not complete:
        ranges.append((start, start + size))
    ranges.reverse()
    return ranges


def range_nodes(start: int, end: int) -> list[Node]:
    """The complete subtrees that cover ``[start, end)``, left to right.

    The range must be aligned the way every range in an RFC 6962 proof is: ``start`` is a
    multiple of a power of two at least ``end - start``. The pieces follow the binary digits of
    the range's size, largest first.
    """
    size = end - start
    if size <= 0:
        raise ValueError("empty range")
    nodes: list[Node] = []
    pos = start
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            if pos % (1 << level):
                raise ValueError(f"range [{start}, {end}) is not aligned")
            nodes.append((level, pos >> level))
            pos += 1 << level
    return nodes


def fold_nodes(hashes: Sequence[bytes]) -> bytes:
    """Root of a range from the hashes of its `range_nodes`, folding right to left."""
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def prove(
    ranges: Sequence[Range], lookup: Callable[[list[Node]], dict[Node, bytes]]
) -> list[bytes]:
    """Turn a proof plan into hashes, asking ``lookup`` once for every node the plan needs."""
    pieces = [range_nodes(a, b) for a, b in ranges]
    wanted = sorted({n for nodes in pieces for n in nodes})
    found = lookup(wanted)
    return [fold_nodes([found[n] for n in nodes]) for nodes in pieces]


# --- list-based reference functions --------------------------------------------------------


def _list_lookup(leaf_hashes: Sequence[bytes]) -> Callable[[list[Node]], dict[Node, bytes]]:
    def lookup(nodes: list[Node]) -> dict[Node, bytes]:
        return {(lvl, i): root_hash(leaf_hashes[i << lvl : (i + 1) << lvl]) for lvl, i in nodes}

    return lookup


def root_hash(leaf_hashes: Sequence[bytes]) -> bytes:
    """Merkle tree hash MTH of a list of leaf hashes (the empty tree hashes to SHA-256(""))."""
    if not leaf_hashes:
        return EMPTY_ROOT
    acc = RootAccumulator()
    for h in leaf_hashes:
        acc.append(h)
    return acc.root()


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """Audit path for leaf ``index`` in the tree of all of ``leaf_hashes``."""
    return prove(inclusion_ranges(index, len(leaf_hashes)), _list_lookup(leaf_hashes))


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int) -> list[bytes]:
    """Proof that the tree of the first ``old_size`` leaves is a prefix of the whole tree."""
    return prove(consistency_ranges(old_size, len(leaf_hashes)), _list_lookup(leaf_hashes))


# --- streaming root --------------------------------------------------------------------------


class RootAccumulator:
    """Merkle root of a growing list of leaves in O(log n) memory (a compact range from 0).

    `append` returns the interior nodes that the new leaf completes, as ``(level, index,
    hash)``; the ledger stores them so proofs never rehash the log.
    """

    __slots__ = ("_stack", "size")

    def __init__(self) -> None:
        self._stack: list[bytes] = []
        self.size = 0

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        return self.append_subtree(0, leaf)

    def append_subtree(self, level: int, root: bytes) -> list[tuple[int, int, bytes]]:
        """Append a complete subtree of ``2**level`` leaves given by its root hash.

        The tree's size must be a multiple of ``2**level`` (the subtree is aligned). Returns the
        nodes the append completes above ``level``.
        """
        if self.size % (1 << level):
            raise ValueError(f"a level-{level} subtree cannot start at {self.size}")
        completed: list[tuple[int, int, bytes]] = []
        h = root
        n = self.size >> level
        self.size += 1 << level
        stack = self._stack
        while n & 1:
            h = node_hash(stack.pop(), h)
            n >>= 1
            level += 1
            completed.append((level, n, h))
        stack.append(h)
        return completed

    def copy(self) -> RootAccumulator:
        return RootAccumulator.resume(self.size, self._stack)

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        acc = self._stack[-1]
        for h in reversed(self._stack[:-1]):
            acc = node_hash(h, acc)
        return acc

    @classmethod
    def resume(cls, size: int, peaks: Sequence[bytes]) -> RootAccumulator:
        """Continue from the peaks of a tree of ``size`` leaves (the nodes of `peak_nodes`)."""
        if len(peaks) != size.bit_count():
            raise ValueError("peaks do not match the tree size")
        acc = cls()
        acc._stack = list(peaks)
        acc.size = size
        return acc


def subtree_levels(leaves: bytes) -> list[bytes]:
    """Every complete node over concatenated 32-byte leaf hashes, level by level.

    Level 0 is the leaves themselves; level ``l`` holds the hashes of the complete subtrees of
    ``2**l`` leaves, left to right. For leaves starting at an aligned position, these are the
    tree's own nodes.
    """
    levels = [leaves]
    current = leaves
    while len(current) >= 64:
        pairs = len(current) // 64
        current = b"".join(
            node_hash(current[i : i + 32], current[i + 32 : i + 64])
            for i in range(0, pairs * 64, 64)
        )
        levels.append(current)
    return levels


def peak_nodes(size: int) -> list[Node]:
    """The complete subtrees ("peaks") that make up a tree of ``size`` leaves, left to right."""
    return range_nodes(0, size) if size else []


# --- verifiers -------------------------------------------------------------------------------


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes | bytearray) and len(value) == HASH_SIZE


def _is_proof(proof: object) -> bool:
    return isinstance(proof, list | tuple) and all(_is_hash(p) for p in proof)


def _is_size(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 section 2.1.3.2: is ``leaf_hash`` at ``index`` in the tree with this ``root``?"""
    if not (_is_size(index) and _is_size(tree_size) and index < tree_size):
        return False
    if not (_is_hash(leaf_hash) and _is_hash(root) and _is_proof(proof)):
        return False
    fn, sn, r = index, tree_size - 1, bytes(leaf_hash)
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    old_size: int, new_size: int, proof: Sequence[bytes], old_root: bytes, new_root: bytes
) -> bool:
    """RFC 9162 section 2.1.4.2: is the tree (old_size, old_root) a prefix of (new_size, new_root)?

    Equal sizes need an empty proof and equal roots. A proof from the empty tree proves
    nothing and is refused, as in the reference implementation the test vectors come from.
    """
    if not (_is_size(old_size) and _is_size(new_size) and old_size <= new_size):
        return False
    if not _is_proof(proof):
        return False
    if old_size == 0:
        return False
    if old_size == new_size:
        return not proof and isinstance(old_root, bytes) and old_root == new_root
    if not (proof and _is_hash(old_root) and _is_hash(new_root)):
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, bytes(old_root))
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root
