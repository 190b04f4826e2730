"""OpenSearch from Maven Central jars: a single node on 127.0.0.1 (see `services/README.md`).

Central has the server jar and the modules' jars but no distribution, so the home is assembled:
`lib/` is the server with its runtime dependencies plus the ones its pom marks `<optional>` (the
distribution ships them: log4j-core, jts-core, spatial4j); each module gets the
`plugin-descriptor.properties` (and security policy) the distribution would hold. Index State
Management is not on Central: datasoc's stores roll over and delete indices themselves.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import ClassVar

from services.base import Server, classpath, http_ok, jvm_common_flags
from services.errors import FetchError
from services.maven import Coordinate, copy_artifacts, copy_dependency_sets

NETTY_HTTP2 = "4.1.135.Final"  # the 2.19 netty module's pom omits netty-codec-http2

# module folder -> (artifact, extended plugins)
_MODULES: dict[str, tuple[str, str]] = {
    "transport-netty4": ("transport-netty4-client", ""),
    "lang-painless": ("lang-painless", ""),
    "analysis-common": ("analysis-common", "lang-painless"),
    "mapper-extras": ("mapper-extras-client", ""),
    "reindex": ("reindex-client", ""),
}
_POLICIES: dict[str, str] = {
    "transport-netty4": """grant {
  permission java.io.FilePermission "/proc/sys/net/core/somaxconn", "read";
  permission java.net.SocketPermission "*", "accept,connect";
  permission java.lang.RuntimePermission "*", "setContextClassLoader";
  permission java.lang.RuntimePermission "getClassLoader";
  permission java.util.PropertyPermission "sun.nio.ch.bugLevel", "write";
};
""",
    "lang-painless": """grant {
  permission java.lang.RuntimePermission "createClassLoader";
  permission java.lang.RuntimePermission "getClassLoader";
};
""",
}
_DEPENDENCY_RE = re.compile(r"<dependency>(.*?)</dependency>", re.S)


def optional_dependencies(pom_text: str) -> list[Coordinate]:
    """The `<optional>true</optional>` dependencies of a pom (the distribution ships them)."""
    found = []
    for body in _DEPENDENCY_RE.findall(pom_text):
        if "<optional>true</optional>" not in body:
            continue
        parts = {}
        for key in ("groupId", "artifactId", "version"):
            match = re.search(f"<{key}>(.*?)</{key}>", body)
            if match is None:
                break
            parts[key] = match.group(1).strip()
        else:
            found.append(Coordinate(parts["groupId"], parts["artifactId"], parts["version"]))
    return found


def plugin_class(jar: Path) -> str:
    """The one `...Plugin` class of a module jar (2.x `Netty4Plugin`, 3.x `Netty4ModulePlugin`)."""
    with zipfile.ZipFile(jar) as archive:
        names = [
            n for n in archive.namelist() if n.endswith("Plugin.class") and "$" not in n and "/spi/" not in n
        ]
    if not names:
        raise FetchError("opensearch", f"module {jar.name}", "no Plugin class in the jar")
    return sorted(names, key=len)[0].removesuffix(".class").replace("/", ".")


class OpenSearch(Server):
    """A one-node OpenSearch; `address` is its HTTP URL."""

    name: ClassVar[str] = "opensearch"
    VERSION: ClassVar[str] = "2.19.6"

    @classmethod
    def java_versions(cls, version: str) -> range:
        # 2.x installs a SecurityManager, which Java 24 removed; 3.x needs Java 21.
        return range(17, 24) if int(version.split(".", 1)[0]) < 3 else range(21, 26)

    @property
    def major(self) -> int:
        return int(self.version.split(".", 1)[0])

    @classmethod
    def port_names(cls) -> tuple[str, ...]:
        return ("http", "transport")

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.ports['http']}"

    def _recipe(self) -> str:
        return f"opensearch {self.version} modules {sorted(_MODULES.items())} netty-http2 {NETTY_HTTP2}"

    def _assemble(self, home: Path, work: Path) -> None:
        core = Coordinate("org.opensearch", "opensearch", self.version)
        copy_artifacts(self.name, [Coordinate(core.group, core.artifact, core.version, "pom")], work, work)
        pom = work / f"{core.artifact}-{core.version}.pom"
        lib = [core, Coordinate("org.opensearch", "opensearch-plugin-classloader", self.version)]
        lib += optional_dependencies(pom.read_text(encoding="utf-8"))
        if self.major >= 3:
            # 3.x references org.opensearch.javaagent.bootstrap.AgentPolicy at start-up.
            lib.append(Coordinate("org.opensearch", "opensearch-agent-bootstrap", self.version))
        sets: dict[Path, list[Coordinate]] = {home / "lib": lib}
        for folder, (artifact, _) in _MODULES.items():
            deps = [Coordinate("org.opensearch.plugin", artifact, self.version)]
            if folder == "transport-netty4" and self.major < 3:
                deps.append(Coordinate("io.netty", "netty-codec-http2", NETTY_HTTP2))
            sets[home / "modules" / folder] = deps
        copy_dependency_sets(self.name, sets, work / "reactor")
        for folder in ("bin", "plugins", "extensions"):
            (home / folder).mkdir()
        in_lib = {p.name for p in (home / "lib").iterdir()}
        java_min = 21 if self.major >= 3 else 11
        for folder, (artifact, extended) in _MODULES.items():
            module = home / "modules" / folder
            for jar in module.iterdir():
                if jar.name in in_lib:  # the same jar twice is "jar hell" at start-up
                    jar.unlink()
            (module / "plugin-descriptor.properties").write_text(
                f"description={folder} module (assembled from Maven Central)\n"
                f"version={self.version}\nname={folder}\n"
                f"classname={plugin_class(module / f'{artifact}-{self.version}.jar')}\n"
                f"java.version={java_min}\nopensearch.version={self.version}\n"
                f"extended.plugins={extended}\nhas.native.controller=false\n",
                encoding="utf-8",
            )
            if folder in _POLICIES:
                (module / "plugin-security.policy").write_text(_POLICIES[folder], encoding="utf-8")

    def _configure(self) -> None:
        (self.config / "opensearch.yml").write_text(
            "cluster.name: datasoc-services\n"
            f"node.name: {self.instance.name}\n"
            "discovery.type: single-node\n"
            "network.host: 127.0.0.1\n"
            f"http.port: {self.ports['http']}\n"
            f"transport.port: {self.ports['transport']}\n"
            f"path.data: {self.data}\n"
            f"path.logs: {self.logs}\n"
            # a shared machine's disk may be 95 % full: never flip indices read-only in tests
            "cluster.routing.allocation.disk.threshold_enabled: false\n"
            # the stores create their own indices; a typo must not create one by accident
            "action.auto_create_index: false\n",
            encoding="utf-8",
        )
        (self.config / "log4j2.properties").write_text(_LOG4J, encoding="utf-8")
        (self.config / "jvm.options").write_text("", encoding="utf-8")

    def _argv(self) -> list[str]:
        extra: list[str]
        if self.major < 3:
            extra = ["-Djava.locale.providers=SPI,COMPAT"]
            if self.java.major >= 18:  # 2.x installs a SecurityManager; 18+ must allow it
                extra.append("-Djava.security.manager=allow")
        else:
            extra = [
                "-Djava.locale.providers=SPI,CLDR",
                "--add-modules=jdk.incubator.vector",
                "--enable-native-access=ALL-UNNAMED",
            ]
        return [
            str(self.java.java),
            *jvm_common_flags(self.heap_mb, self.tmp),
            "-XX:G1ReservePercent=25",
            "-XX:InitiatingHeapOccupancyPercent=30",
            "-Xss1m",
            "-XX:-OmitStackTraceInFastThrow",
            "-Djna.nosys=true",
            "-Djdk.attach.allowAttachSelf=true",
            "-Dio.netty.noUnsafe=true",
            "-Dio.netty.noKeySetOptimization=true",
            "-Dio.netty.recycler.maxCapacityPerThread=0",
            "-Dio.netty.allocator.numDirectArenas=0",
            "-Dlog4j.shutdownHookEnabled=false",
            "-Dlog4j2.disable.jmx=true",
            *extra,
            f"-Dopensearch.path.home={self.home}",
            f"-Dopensearch.path.conf={self.config}",
            "-Dopensearch.distribution.type=tar",
            "-Dopensearch.bundled_jdk=false",
            "-cp",
            classpath(self.home / "lib"),
            "org.opensearch.bootstrap.OpenSearch",
        ]

    def _environment(self) -> dict[str, str]:
        return {**super()._environment(), "OPENSEARCH_HOME": str(self.home)}

    def _probe(self) -> bool:
        return http_ok(f"{self.address}/_cluster/health?wait_for_status=yellow&timeout=1s")


_LOG4J = """status = error
appender.console.type = Console
appender.console.name = console
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d{ISO8601}][%-5p][%-25c{1.}] [%node_name]%marker %m%n
rootLogger.level = info
rootLogger.appenderRef.console.ref = console
"""
