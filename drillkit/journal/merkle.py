"""Merkle tree hashing of RFC 6962 (§2.1), as used by Certificate Transparency and Trillian.

    merkle_root([b"a", b"b", b"c"])      -> 32 bytes
    inclusion_proof(leaves, 1)           -> [sibling hashes], checked by verify_inclusion(...)

Why a Merkle root and not just the last hash of the journal's chain: the root commits to every
entry *and* their number in one value, and a tree allows proofs that one entry (or an older
prefix) is part of what was signed without handing over the rest. The ledger stores one root per
journal and signs the root over the ledger itself.

Definitions (RFC 6962 §2.1), for leaves d[0:n]:

- empty tree: MTH({}) = SHA-256("")
- one leaf: MTH({d0}) = SHA-256(0x00 || d0)                     (leaf hash)
- n > 1: k = the largest power of two < n,
  MTH(D[n]) = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))      (node hash)

The 0x00/0x01 prefixes keep a leaf from ever being mistaken for an interior node (second
preimage). Leaves here are a journal's lines exactly as stored: the RFC 8785 canonical JSON of each
entry, without the newline.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_of_hashes(hashes: Sequence[bytes]) -> bytes:
    """The tree head over leaf *hashes* (already passed through `leaf_hash`)."""
    n = len(hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return hashes[0]
    k = _split(n)
    return node_hash(root_of_hashes(hashes[:k]), root_of_hashes(hashes[k:]))


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """MTH over `leaves` (raw leaf data), 32 bytes."""
    return root_of_hashes([leaf_hash(d) for d in leaves])


def merkle_root_hex(leaves: Sequence[bytes]) -> str:
    return merkle_root(leaves).hex()


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """The audit path PATH(m, D[n]) of RFC 6962 §2.1.1 for leaf `index` (0-based)."""
    if not 0 <= index < len(leaves):
        raise IndexError(f"leaf {index} outside a tree of {len(leaves)}")
    return _path(index, [leaf_hash(d) for d in leaves])


def _path(m: int, hashes: Sequence[bytes]) -> list[bytes]:
    n = len(hashes)
    if n <= 1:
        return []
    k = _split(n)
    if m < k:
        return [*_path(m, hashes[:k]), root_of_hashes(hashes[k:])]
    return [*_path(m - k, hashes[k:]), root_of_hashes(hashes[:k])]


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """True when `proof` shows `leaf` at `index` in the tree of `size` leaves whose head is `root`
    (the verification algorithm of RFC 9162 §2.1.3.2, equivalent for RFC 6962 trees)."""
    if not 0 <= index < size:
        return False
    fn, sn = index, size - 1
    r = leaf_hash(leaf)
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


__all__ = [
    "EMPTY_ROOT",
    "inclusion_proof",
    "leaf_hash",
    "merkle_root",
    "merkle_root_hex",
    "node_hash",
    "root_of_hashes",
    "verify_inclusion",
]
