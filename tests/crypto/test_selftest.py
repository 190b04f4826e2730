"""The start-up self-test passes here and fails loudly when a vector or backend is wrong."""

from __future__ import annotations

import pytest

from crypto import selftest
from crypto.errors import CryptoSelfTestError
from crypto.primitives import sm3, sm4
from crypto.vectors import VectorFile, load_runtime_vectors, parse_vectors


def test_self_test_passes() -> None:
    selftest.run_self_test()


def test_thorough_self_test_passes() -> None:
    selftest.run_self_test(thorough=True)


def _corrupt(relative: str, key: str) -> VectorFile:
    original = load_runtime_vectors(relative)
    case = original.cases[0]
    value = case.fields[key]
    flipped = ("0" if value[0] != "0" else "1") + value[1:]
    text = "# Source: corrupted copy\n\n" + "\n".join(
        f"{k} = {flipped if k == key else v}" for k, v in case.fields.items()
    )
    return parse_vectors(text + "\n", "corrupted")


@pytest.mark.parametrize(
    ("relative", "key", "check", "step"),
    [
        ("sm3/gbt32905.txt", "MD", "sm3/gbt32905-example1", selftest._check_sm3),
        (
            "sm4/gbt32907.txt",
            "Ciphertext",
            "sm4/gbt32907-example1",
            lambda v: selftest._check_sm4_block(v, False),
        ),
        (
            "sm4/draft-ribose-cfrg-sm4-10-cbc.txt",
            "Ciphertext",
            "sm4-cbc/ribose-a.2.2.1",
            selftest._check_sm4_cbc,
        ),
        ("sm4/rfc8998-gcm.txt", "Tag", "sm4-gcm/rfc8998-a.1", selftest._check_sm4_gcm),
        ("sm2/openssl3-kat.txt", "Msg", "sm2/openssl3-distid", selftest._check_sm2),
    ],
)
def test_a_wrong_vector_fails_the_named_check(relative: str, key: str, check: str, step: object) -> None:
    with pytest.raises(CryptoSelfTestError) as info:
        step(_corrupt(relative, key))  # type: ignore[operator]
    assert info.value.check.startswith(check)
    assert check in str(info.value)


def test_a_broken_backend_stops_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    # The one place a test replaces a part: a backend that returns wrong digests must stop start-up.
    monkeypatch.setattr(sm3, "sm3", lambda *parts: bytes(32))
    with pytest.raises(CryptoSelfTestError, match="sm3/gbt32905-example1/chosen"):
        selftest.run_self_test()


def test_an_exploding_backend_is_reported_as_self_test_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object) -> bytes:
        raise RuntimeError("backend missing")

    monkeypatch.setattr(sm4, "gcm_encrypt", boom)
    with pytest.raises(CryptoSelfTestError, match="'sm4-gcm' failed: unexpected RuntimeError"):
        selftest.run_self_test()
