"""The one loader for known-answer vector files (runtime self-test and tests alike).

File format: ``#`` comment lines, at least one of which starts with ``# Source:`` naming where the
values come from; then cases of ``Key = value`` lines separated by blank lines. Every case has a
``Name``. Values are kept as text; `VectorCase.hex` decodes the hex ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from crypto.errors import CryptoError


class VectorFileError(CryptoError, ValueError):
    """A vector file is malformed; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class VectorCase:
    """One named test case: its fields as text, with the file and line it starts on."""

    name: str
    fields: dict[str, str]
    where: str

    def hex(self, key: str) -> bytes:
        """Field `key` decoded from hex; raises `VectorFileError` naming the case."""
        try:
            return bytes.fromhex(self.fields[key])
        except KeyError:
            raise VectorFileError(f"{self.where}: case {self.name!r} has no {key!r}") from None
        except ValueError:
            raise VectorFileError(f"{self.where}: case {self.name!r}: {key!r} is not hex") from None

    def text(self, key: str) -> str:
        """Field `key` as text."""
        try:
            return self.fields[key]
        except KeyError:
            raise VectorFileError(f"{self.where}: case {self.name!r} has no {key!r}") from None


@dataclass(frozen=True, slots=True)
class VectorFile:
    """A parsed vector file: its declared source and its cases."""

    source: str
    cases: tuple[VectorCase, ...]


def parse_vectors(text: str, where: str) -> VectorFile:
    """Parse vector-file text (see module docstring); `where` names it in errors."""
    source_lines: list[str] = []
    cases: list[VectorCase] = []
    current: dict[str, str] = {}
    start = 0

    def flush() -> None:
        if current:
            if "Name" not in current:
                raise VectorFileError(f"{where}:{start}: case without a Name")
            cases.append(VectorCase(current["Name"], dict(current), f"{where}:{start}"))
            current.clear()

    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line.startswith("#"):
            if line.startswith("# Source:"):
                source_lines.append(line.removeprefix("# Source:").strip())
            continue
        if not line:
            flush()
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise VectorFileError(f"{where}:{number}: expected 'Key = value'")
        if not current:
            start = number
        if key.strip() in current:
            raise VectorFileError(f"{where}:{number}: duplicate key {key.strip()!r}")
        current[key.strip()] = value.strip()
    flush()
    if not source_lines:
        raise VectorFileError(f"{where}: no '# Source:' line naming where the vectors come from")
    if not cases:
        raise VectorFileError(f"{where}: no cases")
    return VectorFile(" ".join(source_lines), tuple(cases))


def load_vectors(path: Path) -> VectorFile:
    """Load a vector file from disk (tests use this on `tests/vectors/...`)."""
    return parse_vectors(Path(path).read_text(encoding="utf-8"), str(path))


def load_runtime_vectors(relative: str) -> VectorFile:
    """Load one of the vector files shipped inside the package (`crypto/selftest_vectors/<relative>`)."""
    resource = resources.files("crypto").joinpath("selftest_vectors", *relative.split("/"))
    return parse_vectors(resource.read_text(encoding="utf-8"), f"crypto/selftest_vectors/{relative}")


RUNTIME_VECTOR_FILES: tuple[str, ...] = (
    "sm3/gbt32905.txt",
    "sm4/gbt32907.txt",
    "sm4/draft-ribose-cfrg-sm4-10-cbc.txt",
    "sm4/rfc8998-gcm.txt",
    "sm2/openssl3-kat.txt",
)
"""The files the start-up self-test reads; each is a byte-identical copy of `tests/vectors/<same>`."""
