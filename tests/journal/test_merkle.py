"""RFC 6962 Merkle tree heads and inclusion proofs, against the Certificate Transparency reference vectors."""

from __future__ import annotations

import hashlib

import pytest

from drillkit.journal.merkle import (
    EMPTY_ROOT,
    inclusion_proof,
    leaf_hash,
    merkle_root,
    node_hash,
    verify_inclusion,
)

# The reference leaves and tree heads used by Certificate Transparency's and Trillian's tests.
LEAVES = [bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                      "606162636465666768696a6b6c6d6e6f")]  # fmt: skip
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
INCLUSION = [
    (0, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
         "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
         "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
         "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
         "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]  # fmt: skip


def test_empty_tree_is_sha256_of_nothing() -> None:
    assert merkle_root([]) == EMPTY_ROOT == hashlib.sha256(b"").digest()


@pytest.mark.parametrize("size", range(1, 9))
def test_tree_heads_match_the_reference(size: int) -> None:
    assert merkle_root(LEAVES[:size]).hex() == ROOTS[size - 1]


def test_leaf_and_node_hashes_are_domain_separated() -> None:
    assert leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
    assert node_hash(b"a", b"b") == hashlib.sha256(b"\x01ab").digest()
    # A two-leaf tree's head is not the leaf hash of the two hashes glued together (second preimage).
    assert merkle_root([b"a", b"b"]) != leaf_hash(leaf_hash(b"a") + leaf_hash(b"b"))


@pytest.mark.parametrize(("index", "proof"), INCLUSION)
def test_inclusion_proofs_match_the_reference(index: int, proof: list[str]) -> None:
    path = inclusion_proof(LEAVES, index)
    assert [p.hex() for p in path] == proof
    assert verify_inclusion(LEAVES[index], index, 8, path, merkle_root(LEAVES))


def test_every_inclusion_proof_verifies_and_wrong_ones_do_not() -> None:
    leaves = [f"entry-{i}".encode() for i in range(23)]
    for n in range(1, len(leaves) + 1):
        root = merkle_root(leaves[:n])
        for i in range(n):
            path = inclusion_proof(leaves[:n], i)
            assert verify_inclusion(leaves[i], i, n, path, root)
            assert not verify_inclusion(leaves[i] + b"!", i, n, path, root)
            if n > 1:
                assert not verify_inclusion(leaves[i], (i + 1) % n, n, path, root)
    with pytest.raises(IndexError):
        inclusion_proof(leaves, 23)


def test_any_change_changes_the_root() -> None:
    leaves = [f"line {i}".encode() for i in range(10)]
    root = merkle_root(leaves)
    swapped = [leaves[1], leaves[0], *leaves[2:]]
    assert merkle_root(swapped) != root
    assert merkle_root(leaves[:-1]) != root
    assert merkle_root([*leaves[:4], b"line 4 ", *leaves[5:]]) != root
