"""The vector loader, and the runtime copies of the vectors agreeing with the test copies."""

from __future__ import annotations

from pathlib import Path

import pytest

from crypto.vectors import (
    RUNTIME_VECTOR_FILES,
    VectorFileError,
    load_runtime_vectors,
    load_vectors,
    parse_vectors,
)

VECTORS = Path(__file__).resolve().parents[1] / "vectors"


@pytest.mark.parametrize("relative", RUNTIME_VECTOR_FILES)
def test_runtime_vectors_are_identical_to_test_vectors(relative: str) -> None:
    shipped = load_runtime_vectors(relative)
    reference = load_vectors(VECTORS / relative)
    assert shipped.source == reference.source
    assert [(c.name, c.fields) for c in shipped.cases] == [(c.name, c.fields) for c in reference.cases]
    runtime_file = Path(__file__).resolve().parents[2] / "crypto" / "selftest_vectors" / relative
    assert runtime_file.read_bytes() == (VECTORS / relative).read_bytes()


def test_every_vector_file_names_its_source() -> None:
    files = sorted(VECTORS.glob("sm[234]/*.txt"))
    assert len(files) >= 5
    for path in files:
        source = load_vectors(path).source
        assert any(word in source for word in ("GB/T", "RFC", "draft-", "OpenSSL")), path


def test_parse_rejects_file_without_source() -> None:
    with pytest.raises(VectorFileError, match="Source"):
        parse_vectors("Name = a\nMsg = 00\n", "x.txt")


def test_parse_rejects_case_without_name_and_names_line() -> None:
    with pytest.raises(VectorFileError, match=r"x.txt:2: case without a Name"):
        parse_vectors("# Source: test\nMsg = 00\n", "x.txt")


def test_parse_rejects_garbage_line() -> None:
    with pytest.raises(VectorFileError, match=r"x.txt:3: expected 'Key = value'"):
        parse_vectors("# Source: test\nName = a\nnot a field\n", "x.txt")


def test_hex_field_errors_name_the_case() -> None:
    case = parse_vectors("# Source: t\nName = a\nMsg = zz\n", "x.txt").cases[0]
    with pytest.raises(VectorFileError, match=r"'a'.*not hex"):
        case.hex("Msg")
    with pytest.raises(VectorFileError, match="no 'MD'"):
        case.hex("MD")
