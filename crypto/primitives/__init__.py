"""LOW-LEVEL SM2/SM3/SM4 adapters. Code outside `crypto/` must use `crypto.recipes` instead."""
