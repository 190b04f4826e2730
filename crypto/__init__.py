"""SM-series cryptography for datasoc: SM3 hashing, SM2 signatures, SM4 field sealing, key store.

Layers (see docs/architecture.md): `crypto.primitives` holds low-level adapters over pyca
`cryptography` and `gmssl_pyx`; `crypto.recipes` is the API the rest of datasoc uses. This package
imports nothing from the rest of the project (floor 1).
"""
