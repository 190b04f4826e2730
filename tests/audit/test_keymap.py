"""The compact sparse Merkle map: cached incremental roots against a naive reference, and proofs."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from audit.errors import ProofError
from audit.keymap import EMPTY, NODE_PREFIX, KeyHead, KeyMap, MapProof, key_path, leaf_hash, verify_map_proof
from crypto.recipes import sm3


def _bit(path: bytes, depth: int) -> int:
    return (path[depth // 8] >> (7 - depth % 8)) & 1


def reference_root(heads: dict[str, KeyHead]) -> bytes:
    """The definition, recursively, with nothing cached (exists only in tests)."""
    leaves = sorted((key_path(sm3, k), h) for k, h in heads.items())

    def node(depth: int, items: list[tuple[bytes, KeyHead]]) -> bytes:
        if not items:
            return EMPTY
        if len(items) == 1:
            return leaf_hash(sm3, *items[0])
        left = [x for x in items if not _bit(x[0], depth)]
        right = [x for x in items if _bit(x[0], depth)]
        return sm3(NODE_PREFIX, node(depth + 1, left), node(depth + 1, right))

    return node(0, leaves)


def _head(rng: random.Random) -> KeyHead:
    return KeyHead(rng.randrange(1, 50), rng.randrange(1, 5000), rng.randbytes(32))


def test_incremental_roots_match_the_reference() -> None:
    rng = random.Random(11)
    live = KeyMap(sm3)
    heads: dict[str, KeyHead] = {}
    assert live.root() == EMPTY == reference_root({})
    for round_ in range(25):
        # New keys and updates of old ones, as a checkpoint brings them.
        for _ in range(rng.randrange(1, 12)):
            key = (
                f"actor:u{rng.randrange(60)}" if rng.random() < 0.7 else f"grant:apr-{round_}-{rng.random()}"
            )
            heads[key] = _head(rng)
            live.set(key, heads[key])
        assert len(live) == len(heads)  # new keys count before the root sorts them in
        assert live.root() == reference_root(heads), round_
    assert len(live) == len(heads)


def test_membership_and_absence_proofs() -> None:
    rng = random.Random(5)
    live = KeyMap(sm3)
    heads = {f"subject:asset-{i}": _head(rng) for i in range(40)}
    for key, head in heads.items():
        live.set(key, head)
    root = live.root()
    for key, head in heads.items():
        assert verify_map_proof(sm3, root, key, live.prove(key)) == head
    for key in ("subject:asset-99", "actor:nobody", "kind:access"):
        assert verify_map_proof(sm3, root, key, live.prove(key)) is None
    single = KeyMap(sm3)
    single.set("kind:access", heads["subject:asset-1"])
    assert verify_map_proof(sm3, single.root(), "kind:other", single.prove("kind:other")) is None
    assert verify_map_proof(sm3, EMPTY, "kind:any", KeyMap(sm3).prove("kind:any")) is None


def test_broken_proofs_fail() -> None:
    rng = random.Random(9)
    live = KeyMap(sm3)
    heads = {f"actor:u{i}": _head(rng) for i in range(30)}
    for key, head in heads.items():
        live.set(key, head)
    root = live.root()
    key = "actor:u7"
    good = live.prove(key)
    assert good.end_head is not None
    forged = [
        replace(good, end_head=replace(good.end_head, elements=good.end_head.elements - 1)),  # hide one
        replace(good, siblings=(*good.siblings[:-1], bytes(32))),
        replace(good, siblings=good.siblings[1:]),
        replace(good, siblings=(*good.siblings, EMPTY)),
        MapProof(good.siblings, None, None),  # claim the key is absent
    ]
    for proof in forged:
        with pytest.raises(ProofError):
            verify_map_proof(sm3, root, key, proof)
    other = live.prove("actor:u8")
    with pytest.raises(ProofError):
        verify_map_proof(sm3, root, key, other)  # another key's leaf, off this key's path
