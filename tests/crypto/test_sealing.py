"""Field sealing: binding to record and field, key ids, both modes, opaque failures, dict form."""

from __future__ import annotations

import base64
import functools
import itertools
import json
from collections.abc import Callable

import pytest

from crypto.errors import SealError
from crypto.recipes import SealedField, SealingKey, open_field, seal_field
from crypto.sealing import SEAL_ALGS, SealAlg

KEY = SealingKey("seal:test-1", bytes(range(32)))
OTHER = SealingKey("seal:test-2", bytes(range(1, 33)))
ALGS: list[SealAlg] = ["sm4-gcm", "sm4-cbc-hmac-sm3"]


def counter_rng() -> object:
    counter = itertools.count()
    return lambda n: bytes([next(counter) % 256]) * n


@pytest.mark.parametrize("alg", ALGS)
def test_round_trip_through_json(alg: SealAlg) -> None:
    sealed = seal_field(KEY, "rec-1", "user.phone", b"13800000000", rng=counter_rng(), alg=alg)  # type: ignore[arg-type]
    stored = json.loads(json.dumps(sealed.to_dict()))
    assert stored["sealed"] == alg
    assert stored["kid"] == "seal:test-1"
    assert SealedField.from_dict(stored) == sealed
    assert open_field(KEY, "rec-1", "user.phone", stored) == b"13800000000"
    assert b"13800000000" not in json.dumps(stored).encode()


@pytest.mark.parametrize("alg", ALGS)
def test_deterministic_with_fixed_iv(alg: SealAlg) -> None:
    iv = bytes(12 if alg == "sm4-gcm" else 16)
    first = seal_field(KEY, "r", "f", b"value", iv=iv, alg=alg)
    assert first == seal_field(KEY, "r", "f", b"value", iv=iv, alg=alg)
    assert first != seal_field(KEY, "r", "f", b"value", alg=alg)


@pytest.mark.parametrize("alg", ALGS)
@pytest.mark.parametrize(
    ("record_id", "field"), [("rec-2", "user.phone"), ("rec-1", "user.email"), ("rec-1user.", "phone")]
)
def test_moving_a_value_fails(alg: SealAlg, record_id: str, field: str) -> None:
    sealed = seal_field(KEY, "rec-1", "user.phone", b"secret", alg=alg)
    with pytest.raises(SealError, match=r"^cannot open sealed field$"):
        open_field(KEY, record_id, field, sealed)


@pytest.mark.parametrize("alg", ALGS)
def test_every_failure_is_the_same_opaque_error(alg: SealAlg) -> None:
    sealed = seal_field(KEY, "r", "f", b"secret value here", alg=alg)
    data = sealed.to_dict()
    attempts: list[Callable[[], bytes]] = [
        lambda: open_field(OTHER, "r", "f", sealed),
        lambda: open_field({"seal:test-2": OTHER}, "r", "f", sealed),
        lambda: open_field(SealingKey("seal:test-1", bytes(32)), "r", "f", sealed),
        lambda: open_field(KEY, "r", "f", {**data, "kid": "seal:test-2"}),
    ]
    raw_ct = base64.b64decode(data["ct"])
    for position in range(len(raw_ct)):
        flipped = bytearray(raw_ct)
        flipped[position] ^= 1
        attempts.append(
            functools.partial(open_field, KEY, "r", "f", {**data, "ct": base64.b64encode(flipped).decode()})
        )
    iv = bytearray(base64.b64decode(data["iv"]))
    iv[0] ^= 1
    attempts.append(lambda: open_field(KEY, "r", "f", {**data, "iv": base64.b64encode(bytes(iv)).decode()}))
    messages = set()
    for attempt in attempts:
        with pytest.raises(SealError) as info:
            attempt()
        messages.add(str(info.value))
    assert messages == {"cannot open sealed field"}


def test_relabelling_the_algorithm_fails() -> None:
    sealed = seal_field(KEY, "r", "f", b"x" * 40, alg="sm4-cbc-hmac-sm3")
    data = sealed.to_dict()
    del data["mac"]
    data["sealed"] = "sm4-gcm"
    with pytest.raises(SealError):
        open_field(KEY, "r", "f", data)


def test_rotated_keys_still_open_via_mapping() -> None:
    old = seal_field(KEY, "r", "f", b"old")
    new = seal_field(OTHER, "r", "f", b"new")
    keyring = {KEY.key_id: KEY, OTHER.key_id: OTHER}
    assert open_field(keyring, "r", "f", old) == b"old"
    assert open_field(keyring, "r", "f", new) == b"new"
    with pytest.raises(SealError):
        open_field({OTHER.key_id: OTHER}, "r", "f", old)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "JSON object"),
        ({"sealed": "aes", "kid": "k", "iv": "", "ct": ""}, "unknown sealing algorithm"),
        ({"sealed": "sm4-gcm", "kid": "k", "iv": "AAAA", "ct": "A" * 24}, "IV must be 12 bytes"),
        ({"sealed": "sm4-gcm", "kid": "k", "iv": "!!", "ct": ""}, "'iv' is not valid base64"),
        ({"sealed": "sm4-gcm", "iv": "", "ct": ""}, "'kid' missing"),
        ({"sealed": "sm4-gcm", "kid": "k", "iv": "", "ct": "", "extra": 1}, "unexpected keys"),
        (
            {
                "sealed": "sm4-cbc-hmac-sm3",
                "kid": "k",
                "iv": base64.b64encode(bytes(16)).decode(),
                "ct": "AAAA",
            },
            "MAC",
        ),
    ],
)
def test_malformed_sealed_dicts_name_the_problem(data: object, message: str) -> None:
    with pytest.raises(SealError, match=message):
        SealedField.from_dict(data)  # type: ignore[arg-type]


def test_looks_sealed() -> None:
    assert SealedField.looks_sealed(seal_field(KEY, "r", "f", b"x").to_dict())
    assert not SealedField.looks_sealed({"sealed": "other", "ct": ""})
    assert not SealedField.looks_sealed("sm4-gcm")
    assert set(SEAL_ALGS) == set(ALGS)


def test_bad_iv_length_and_key_are_refused() -> None:
    with pytest.raises(SealError, match="IV must be 12 bytes"):
        seal_field(KEY, "r", "f", b"x", iv=bytes(16))
    with pytest.raises(SealError, match="32 key bytes"):
        SealingKey("k", bytes(16))


def test_sealing_key_repr_has_no_key_material() -> None:
    assert repr(KEY) == "SealingKey(key_id='seal:test-1')"
    assert bytes(range(32)).hex() not in repr(KEY) + str(KEY)
    gcm_hex, mac_hex = KEY.cbc_keys_hex()
    assert gcm_hex not in repr(KEY)
    assert mac_hex not in repr(KEY)
