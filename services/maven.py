"""Fetching jars from Maven Central into `~/.m2` and copying them into a server's home.

Every call names exact versions: a version range would make Maven walk every pom of the range.
Several output folders are filled by one Maven run (a reactor of one small pom per folder, each
with its own `outputDirectory`), because each `mvn` start costs about 5 s of JVM start-up.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from services.errors import FetchError
from services.java import find_maven

#: A Maven run that has not finished after this long is stuck (a cold fetch takes about 80 s).
MAVEN_TIMEOUT_S = 900.0
#: Named in full on the command line, so Maven never looks up which version is the newest.
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"


@dataclass(frozen=True, slots=True)
class Coordinate:
    """`group:artifact:version` of a jar (or of another `packaging`, e.g. `pom`)."""

    group: str
    artifact: str
    version: str
    packaging: str = "jar"

    def __str__(self) -> str:
        return f"{self.group}:{self.artifact}:{self.version}:{self.packaging}"

    def dependency_xml(self) -> str:
        """The `<dependency>` element for a pom."""
        return (
            f"<dependency><groupId>{escape(self.group)}</groupId>"
            f"<artifactId>{escape(self.artifact)}</artifactId>"
            f"<version>{escape(self.version)}</version></dependency>"
        )


def _run(server: str, step: str, argv: Sequence[str], cwd: Path) -> None:
    try:
        done = subprocess.run(  # noqa: S603 - argv built here from fixed words and checked coordinates
            argv, cwd=cwd, capture_output=True, text=True, timeout=MAVEN_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        raise FetchError(server, step, f"mvn did not finish in {MAVEN_TIMEOUT_S:.0f} s") from None
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-25:])
        raise FetchError(server, step, f"mvn exited with {done.returncode}:\n{tail}")


def copy_artifacts(server: str, coordinates: Sequence[Coordinate], out: Path, work: Path) -> None:
    """Copy each artifact itself (no dependencies) into `out`, fetching it first if needed."""
    out.mkdir(parents=True, exist_ok=True)
    for coordinate in coordinates:
        _run(
            server,
            f"copy {coordinate}",
            [
                str(find_maven()),
                "-q",
                "-B",
                f"{DEPENDENCY_PLUGIN}:copy",
                f"-Dartifact={coordinate}",
                f"-DoutputDirectory={out}",
            ],
            work,
        )


def copy_dependency_sets(server: str, sets: Mapping[Path, Sequence[Coordinate]], work: Path) -> None:
    """For each `folder: artifacts`, copy those artifacts and their runtime dependencies into `folder`.

    One Maven run for all folders: an aggregator pom over one module pom per folder.
    """
    work.mkdir(parents=True, exist_ok=True)
    modules = []
    for index, (folder, coordinates) in enumerate(sets.items()):
        folder.mkdir(parents=True, exist_ok=True)
        module = work / f"m{index}"
        module.mkdir(exist_ok=True)
        deps = "".join(c.dependency_xml() for c in coordinates)
        (module / "pom.xml").write_text(
            _POM.format(
                artifact=f"m{index}",
                parent="",
                body=f"<dependencies>{deps}</dependencies>"
                + _COPY_PLUGIN.format(out=escape(str(folder.resolve()))),
            ),
            encoding="utf-8",
        )
        modules.append(f"<module>m{index}</module>")
    (work / "pom.xml").write_text(
        _POM.format(artifact="aggregate", parent="", body=f"<modules>{''.join(modules)}</modules>"),
        encoding="utf-8",
    )
    _run(
        server,
        "copy dependencies",
        [
            str(find_maven()),
            "-q",
            "-B",
            "-f",
            str(work / "pom.xml"),
            f"{DEPENDENCY_PLUGIN}:copy-dependencies",
        ],
        work,
    )


_POM = (
    '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>{parent}'
    "<groupId>local.datasoc.services</groupId><artifactId>{artifact}</artifactId><version>1</version>"
    "<packaging>pom</packaging>{body}</project>"
)
_COPY_PLUGIN = (
    "<build><plugins><plugin><groupId>org.apache.maven.plugins</groupId>"
    "<artifactId>maven-dependency-plugin</artifactId><version>3.8.1</version>"
    "<configuration><outputDirectory>{out}</outputDirectory><includeScope>runtime</includeScope>"
    "</configuration></plugin></plugins></build>"
)
