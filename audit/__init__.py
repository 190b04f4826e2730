"""Verifiable audit ledger (审计账本): append-only entries in an SM3 Merkle tree, SM2-signed checkpoints.

Modules, from the pure core outwards:
- `merkle`: RFC 9162 tree hashing over a pluggable `Hasher`, proof planning, proof verification.
- `tree`: in-memory perfect-node levels of one tree (roots, proofs for any past size).
- `entry`: `LedgerEntry` / `EntryDraft`, the closed set of kinds, canonical bytes.
- `checkpoint`: signed tree heads, the exact bytes signed, the signing policy.
- `sealed`: SM4-sealed payload fields bound to their entry.
- `storage`: the on-disk ledger (group-commit fsync, crash recovery); `ledger`: storage + signer.
- `verify`: `verify_store`, re-checking a whole ledger directory.
- `bundle`, `bundle_format`: export bundles and their offline verification.
Errors: every one is an `audit.errors.AuditError`.
"""
