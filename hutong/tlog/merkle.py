"""RFC 9162 (Certificate Transparency v2) Merkle tree hashing, proofs and proof checking.

Pure functions over leaf hashes (no database, no I/O), so the integrator, the prover, the verifier
and the hub's witness all use the one implementation, and tests check it against an independent
one. Notation follows RFC 9162 §2.1: ``MTH`` of a list of leaves, ``PATH(m, D[n])`` the inclusion
proof, ``PROOF(m, D[n])`` the consistency proof; the checking algorithms are §2.1.3.2 and §2.1.4.2.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n >= 2)."""
    k = 1
    while k << 1 < n:
        k <<= 1
    return k


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of leaf hashes, iteratively (no recursion limit on large trees)."""
    if not leaves:
        return EMPTY_ROOT
    return frontier_root(frontier_extend([], 0, leaves))


# -- the right edge of a growing tree ---------------------------------------------------------------
# A tree of size n is the concatenation of perfect subtrees, one per set bit of n (largest first).
# Keeping their roots (the "frontier", at most 64 hashes) lets the integrator add a batch of leaves
# and compute the new root without reading any earlier leaf.


# A complete perfect subtree: (level, index, root) covers leaves [index << level, (index + 1) << level).
Node = tuple[int, int, bytes]


def frontier_extend(frontier: list[bytes], size: int, leaves: Sequence[bytes],
                    completed: list[Node] | None = None, min_level: int = 1) -> list[bytes]:
    """The frontier of the tree of ``size`` leaves after appending ``leaves``.

    Every perfect subtree the appended leaves complete at ``min_level`` or above is added to
    ``completed`` (the integrator stores them, so proofs need not reread the leaves under them)."""
    stack = list(frontier)
    for leaf in leaves:
        node, n, level = leaf, size, 0
        while n & 1:  # merge equal-sized perfect subtrees, like a binary counter's carry
            node = node_hash(stack.pop(), node)
            n >>= 1
            level += 1
            if completed is not None and level >= min_level:
                completed.append((level, n, node))
        stack.append(node)
        size += 1
    return stack


def frontier_root(frontier: Sequence[bytes]) -> bytes:
    if not frontier:
        return EMPTY_ROOT
    node = frontier[-1]
    for left in reversed(frontier[:-1]):
        node = node_hash(left, node)
    return node


# -- proofs (RFC 9162 §2.1.3.1 and §2.1.4.1) --------------------------------------------------------
# The proof algorithms need MTH of ranges [lo, hi) only; ``Subtree`` gives it. Over a list of leaves it
# hashes the range; the prover's gives it from stored perfect subtrees (``perfect_pieces``).

Subtree = Callable[[int, int], bytes]


def _over(leaves: Sequence[bytes]) -> Subtree:
    return lambda lo, hi: root(leaves[lo:hi])


def perfect_pieces(lo: int, hi: int) -> list[tuple[int, int]]:
    """The aligned perfect subtrees (level, index) whose concatenation is the range [lo, hi), largest first.

    Every range the proof algorithms ask for starts at a multiple of a power of two at least as large
    as itself, so its pieces follow its size's set bits and ``join`` rebuilds its MTH from them."""
    pieces, at = [], lo
    while at < hi:
        level = (hi - at).bit_length() - 1
        while at & ((1 << level) - 1):  # not aligned at this size: a smaller piece first
            level -= 1
        pieces.append((level, at >> level))
        at += 1 << level
    return pieces


def join(roots: Sequence[bytes]) -> bytes:
    """MTH of a range from its pieces' roots (largest first): the right edge folds from the right."""
    return frontier_root(roots)


def inclusion_path(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]): the audit path of leaf ``index`` in the tree of ``leaves``."""
    return inclusion_path_by(index, len(leaves), _over(leaves))


def consistency_path(first: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) for the tree of ``leaves`` (size n) and its prefix of ``first`` leaves."""
    return consistency_path_by(first, len(leaves), _over(leaves))


def _recorder(out: list[tuple[int, int]]) -> Subtree:
    def record(lo: int, hi: int) -> bytes:
        out.append((lo, hi))
        return b""

    return record


def inclusion_ranges(index: int, n: int) -> list[tuple[int, int]]:
    """The ranges whose MTH make up PATH(index, D[n]), in proof order."""
    out: list[tuple[int, int]] = []
    inclusion_path_by(index, n, _recorder(out))
    return out[::-1]  # recorded as computed; the path is reversed (leaf first) at the end


def consistency_ranges(first: int, n: int) -> list[tuple[int, int]]:
    """The ranges whose MTH make up PROOF(first, D[n]), in proof order."""
    out: list[tuple[int, int]] = []
    consistency_path_by(first, n, _recorder(out))
    return out


def inclusion_path_by(index: int, n: int, _subtree: Subtree) -> list[bytes]:
    """PATH(m, D[n]) with subtree roots from ``_subtree``."""
    if not 0 <= index < n:
        raise ValueError("leaf index out of range")
    path: list[bytes] = []
    lo, hi, m = 0, n, index
    while hi - lo > 1:
        k = _split(hi - lo)
        if m < k:
            path.append(_subtree(lo + k, hi))
            hi = lo + k
        else:
            path.append(_subtree(lo, lo + k))
            lo, m = lo + k, m - k
    path.reverse()  # RFC order: from the leaf up to the root
    return path


def consistency_path_by(first: int, n: int, _subtree: Subtree) -> list[bytes]:
    """PROOF(m, D[n]) with subtree roots from ``_subtree``."""
    if not 0 < first <= n:
        raise ValueError("first tree size out of range")
    out: list[bytes] = []

    def subproof(m: int, lo: int, hi: int, complete: bool) -> None:
        size = hi - lo
        if m == size:
            if not complete:
                out.append(_subtree(lo, hi))
            return
        k = _split(size)
        if m <= k:
            subproof(m, lo, lo + k, complete)
            out.append(_subtree(lo + k, hi))
        else:
            subproof(m - k, lo + k, hi, False)
            out.append(_subtree(lo, lo + k))

    subproof(first, 0, n, True)
    return out


# -- checking (RFC 9162 §2.1.3.2 and §2.1.4.2) -------------------------------------------------------


def root_from_inclusion(index: int, size: int, leaf: bytes, path: Sequence[bytes]) -> bytes | None:
    """The root an inclusion proof leads to, or None when the proof is malformed for (index, size)."""
    if not 0 <= index < size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while True:
                    fn, sn = fn >> 1, sn >> 1
                    if fn & 1 or fn == 0:
                        break
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return r if sn == 0 else None


def verify_inclusion(index: int, size: int, leaf: bytes, path: Sequence[bytes], expected_root: bytes) -> bool:
    return root_from_inclusion(index, size, leaf, path) == expected_root


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes,
                       path: Sequence[bytes]) -> bool:
    """RFC 9162 §2.1.4.2: does ``path`` prove the tree of size ``second`` extends the one of size ``first``?"""
    if first == second:
        return not path and first_root == second_root
    if not 0 < first < second:
        return first == 0 and not path  # the empty tree is a prefix of every tree
    proof = list(path)
    if first & (first - 1) == 0:  # first is a power of two: its root is the first node
        proof.insert(0, first_root)
    if not proof:
        return False
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            if not fn & 1:
                while True:
                    fn, sn = fn >> 1, sn >> 1
                    if fn & 1 or fn == 0:
                        break
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == first_root and sr == second_root
