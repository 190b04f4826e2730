"""Finding a Java runtime of the version a server needs, and Maven, without starting a JVM to ask.

Candidates, in order: the homes in `SERVICES_JAVA_HOMES` (separated by `os.pathsep`), `JAVA_HOME`,
the JVMs under `/usr/lib/jvm`, and the one `java` on `PATH` belongs to. A home's version is read
from its `release` file (`JAVA_VERSION="17.0.15"`), which every JDK build since 9 carries.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from services.errors import ToolMissingError

JAVA_HOMES_ENV = "SERVICES_JAVA_HOMES"
_RELEASE_RE = re.compile(r'^JAVA_VERSION="(\d+)(?:[.\-+_][^"]*)?"', re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Java:
    """A JDK: its home and feature version (17, 21, 25...)."""

    home: Path
    major: int

    @property
    def java(self) -> Path:
        """The `java` launcher."""
        return self.home / "bin" / "java"

    def tool(self, name: str) -> Path:
        """Another tool of this JDK (`javac`, `jar`); raises `ToolMissingError` if it is a bare JRE."""
        path = self.home / "bin" / name
        if not path.is_file():
            raise ToolMissingError(name, f"the JDK at {self.home}", hint="install a full JDK, not a JRE")
        return path


def read_major(home: Path) -> int | None:
    """The feature version of the JDK at `home` from its `release` file, or None if it is not one."""
    try:
        text = (home / "release").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    found = _RELEASE_RE.search(text)
    if found is None:
        return None
    major = int(found.group(1))
    return 8 if major == 1 else major  # "1.8.0_..." is Java 8


def _candidates(environ: Mapping[str, str]) -> Iterable[Path]:
    for entry in environ.get(JAVA_HOMES_ENV, "").split(os.pathsep):
        if entry:
            yield Path(entry)
    if environ.get("JAVA_HOME"):
        yield Path(environ["JAVA_HOME"])
    jvm = Path("/usr/lib/jvm")
    if jvm.is_dir():
        yield from sorted(p for p in jvm.iterdir() if p.is_dir())
    on_path = shutil.which("java", path=environ.get("PATH"))
    if on_path:
        yield Path(on_path).resolve().parent.parent


@lru_cache(maxsize=8)
def _installed(environ_items: tuple[tuple[str, str], ...]) -> tuple[Java, ...]:
    seen: set[Path] = set()
    found: list[Java] = []
    for home in _candidates(dict(environ_items)):
        real = home.resolve()
        if real in seen:
            continue
        seen.add(real)
        major = read_major(real)
        if major is not None and (real / "bin" / "java").is_file():
            found.append(Java(home=real, major=major))
    return tuple(found)


def installed_javas(environ: Mapping[str, str] | None = None) -> tuple[Java, ...]:
    """Every JDK found, in candidate order (no duplicates)."""
    env = os.environ if environ is None else environ
    keys = (JAVA_HOMES_ENV, "JAVA_HOME", "PATH")
    return _installed(tuple((k, env[k]) for k in keys if k in env))


def find_java(needed_by: str, versions: range, environ: Mapping[str, str] | None = None) -> Java:
    """The first JDK whose version is in `versions`; `ToolMissingError` naming what was found otherwise."""
    javas = installed_javas(environ)
    for java in javas:
        if java.major in versions:
            return java
    have = ", ".join(f"{j.major} at {j.home}" for j in javas) or "none"
    raise ToolMissingError(
        f"Java {versions.start} to {versions.stop - 1}",
        needed_by,
        hint=f"found: {have}; install one or list its home in {JAVA_HOMES_ENV}",
    )


def find_maven() -> Path:
    """The `mvn` launcher on `PATH`."""
    found = shutil.which("mvn")
    if found is None:
        raise ToolMissingError("Maven (mvn)", "fetching the servers' jars", hint="apt-get install maven")
    return Path(found)
