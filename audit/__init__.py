"""Verifiable audit ledger (审计账本): append-only entries in an SM3 Merkle tree, SM2-signed checkpoints.

Modules, from the pure core outwards:
- `merkle`: RFC 9162 tree hashing over a pluggable `Hasher`, proof planning, proof verification.
- `tree`: in-memory perfect-node levels of one tree (roots, proofs for any past size).
- `keymap`: the compact sparse Merkle map from index keys to their sub-tree heads.
- `index`: the key index (per-key chunk trees, the map) sealed into each checkpoint, and run proofs.
- `entry`: `LedgerEntry` / `EntryDraft`, the closed set of kinds, canonical bytes.
- `checkpoint`: signed tree heads, the exact bytes signed, the signing policy.
- `sealed`: SM4-sealed payload fields bound to their entry.
- `selection`: what an export selects and what verification may claim about it.
- `files`, `reading`: private modes and durable writes; what every reader of a directory shares.
- `storage`: the on-disk ledger (group-commit fsync, crash recovery); `ledger`: storage + signer.
- `snapshot`: read-only opens beside a running writer.
- `verify`: `verify_store`, re-checking a whole ledger directory.
- `bundle`, `bundle_format`, `bundle_verify`: export bundles and their offline verification.
Errors: every one is an `audit.errors.AuditError`.
"""
