"""Elasticsearch from Maven Central jars: a single node on 127.0.0.1 (see `services/README.md`).

Version 9.x, because the project's `elasticsearch` Python client is 9.x: it sends
`compatible-with=9` headers, which an 8.x server refuses. 9.x needs Java 21 or later.

Central has the server, the netty transport module and the entitlement bridge; three small parts
of the distribution are not there and are made here (compiled with the JDK's `javac`):
- the entitlement agent (`lib/entitlement-agent/`), which only calls
  `EntitlementInitialization.initialize(instrumentation)`, as upstream's does;
- `lib/tools/ansi-console`, whose loader answers "no interactive console";
- `ArgsWriter`, which writes the binary `ServerArgs` that the distribution's `server-cli` pipes into
  the server's stdin (the server reads its settings from there, not from `elasticsearch.yml`).

Missing without the distribution's other modules: analysis-common (no ngram or custom token
filters), painless, reindex and the by-query APIs, ILM and `GET /` (use `/_cluster/health`).
"""

from __future__ import annotations

import hashlib
import subprocess
import zipfile
from pathlib import Path
from typing import ClassVar

from services.base import Server, classpath, http_ok, jvm_common_flags
from services.errors import FetchError
from services.maven import Coordinate, copy_artifacts, copy_dependency_sets

_AGENT = """package org.elasticsearch.entitlement.agent;
import java.lang.instrument.Instrumentation;
public class EntitlementAgent {
    public static void agentmain(String agentArgs, Instrumentation inst) throws Exception {
        Class<?> c = Class.forName("org.elasticsearch.entitlement.initialization.EntitlementInitialization");
        c.getMethod("initialize", Instrumentation.class).invoke(null, inst);
    }
}
"""
_AGENT_MANIFEST = (
    "Agent-Class: org.elasticsearch.entitlement.agent.EntitlementAgent\n"
    "Can-Retransform-Classes: true\nCan-Redefine-Classes: true\n"
)
_CONSOLE = """package org.elasticsearch.io.ansi;
public class AnsiConsoleLoader implements java.util.function.Supplier<Object> {
    public Object get() { return null; }
}
"""
_ARGS_WRITER = """import org.elasticsearch.bootstrap.ServerArgs;
import org.elasticsearch.common.io.stream.OutputStreamStreamOutput;
import org.elasticsearch.common.settings.KeyStoreWrapper;
import org.elasticsearch.common.settings.Settings;
import java.nio.file.Path;
/** Writes the ServerArgs that server-cli would pipe to the server: args are home, config dir, logs dir. */
public class ArgsWriter {
    public static void main(String[] a) throws Exception {
        Path home = Path.of(a[0]), config = Path.of(a[1]), logs = Path.of(a[2]);
        Settings s = Settings.builder().loadFromPath(config.resolve("elasticsearch.yml"))
            .put("path.home", home.toString()).build();
        ServerArgs args = new ServerArgs(false, false, null, KeyStoreWrapper.create(), s, config, logs);
        OutputStreamStreamOutput out = new OutputStreamStreamOutput(System.out);
        args.writeTo(out);
        out.flush();
    }
}
"""


class Elasticsearch(Server):
    """A one-node Elasticsearch; `address` is its HTTP URL."""

    name: ClassVar[str] = "elasticsearch"
    VERSION: ClassVar[str] = "9.5.3"

    @classmethod
    def java_versions(cls, version: str) -> range:
        return range(21, 26)

    @classmethod
    def port_names(cls) -> tuple[str, ...]:
        return ("http", "transport")

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.ports['http']}"

    def _recipe(self) -> str:
        shims = hashlib.sha256("\0".join((_AGENT, _AGENT_MANIFEST, _CONSOLE, _ARGS_WRITER)).encode())
        return f"elasticsearch {self.version} netty4 bridge shims {shims.hexdigest()}"

    def _assemble(self, home: Path, work: Path) -> None:
        lib, netty = home / "lib", home / "modules" / "transport-netty4"
        copy_dependency_sets(
            self.name,
            {
                lib: [Coordinate("org.elasticsearch", "elasticsearch", self.version)],
                netty: [Coordinate("org.elasticsearch.plugin", "transport-netty4", self.version)],
            },
            work / "reactor",
        )
        copy_artifacts(
            self.name,
            [Coordinate("org.elasticsearch", "elasticsearch-entitlement-bridge", self.version)],
            lib / "entitlement-bridge",
            work,
        )
        in_lib = {p.name for p in lib.iterdir()}
        for jar in netty.iterdir():
            if jar.name in in_lib:
                jar.unlink()
        # The module jar embeds its plugin-descriptor.properties and entitlement-policy.yaml.
        with zipfile.ZipFile(netty / f"transport-netty4-{self.version}.jar") as archive:
            prefix = "META-INF/es-plugins/transport-netty4/"
            members = [n for n in archive.namelist() if n.startswith(prefix) and not n.endswith("/")]
            if not members:
                raise FetchError(self.name, "transport-netty4", "no plugin descriptor in the module jar")
            for member in members:
                (netty / member.removeprefix(prefix)).write_bytes(archive.read(member))
        for folder in ("bin", "plugins", "config"):
            (home / folder).mkdir(exist_ok=True)
        self._compile(home, work)

    def _compile(self, home: Path, work: Path) -> None:
        sources = work / "src"
        files = {
            "org/elasticsearch/entitlement/agent/EntitlementAgent.java": _AGENT,
            "org/elasticsearch/io/ansi/AnsiConsoleLoader.java": _CONSOLE,
            "ArgsWriter.java": _ARGS_WRITER,
        }
        for relative, text in files.items():
            (sources / relative).parent.mkdir(parents=True, exist_ok=True)
            (sources / relative).write_text(text, encoding="utf-8")
        classes = work / "classes"
        self._tool(
            "javac",
            "--release",
            str(min(self.java.major, 21)),
            "-cp",
            classpath(home / "lib"),
            "-d",
            str(classes),
            *(str(sources / r) for r in files),
        )
        (work / "MANIFEST.MF").write_text(_AGENT_MANIFEST, encoding="utf-8")
        agent = home / "lib" / "entitlement-agent"
        console = home / "lib" / "tools" / "ansi-console"
        for folder in (agent, console, home / "datasoc-tools"):
            folder.mkdir(parents=True, exist_ok=True)
        self._tool(
            "jar",
            "cfm",
            str(agent / "entitlement-agent-shim.jar"),
            str(work / "MANIFEST.MF"),
            "-C",
            str(classes),
            "org/elasticsearch/entitlement",
        )
        self._tool(
            "jar", "cf", str(console / "ansi-console-shim.jar"), "-C", str(classes), "org/elasticsearch/io"
        )
        (home / "datasoc-tools" / "ArgsWriter.class").write_bytes((classes / "ArgsWriter.class").read_bytes())

    def _tool(self, tool: str, *args: str) -> None:
        done = subprocess.run(  # noqa: S603 - a JDK tool with arguments built here
            [str(self.java.tool(tool)), *args], capture_output=True, text=True, timeout=300, check=False
        )
        if done.returncode != 0:
            raise FetchError(self.name, tool, (done.stdout + done.stderr)[-3000:])

    def _configure(self) -> None:
        (self.config / "elasticsearch.yml").write_text(
            "cluster.name: datasoc-services\n"
            f"node.name: {self.instance.name}\n"
            "discovery.type: single-node\n"
            "network.host: 127.0.0.1\n"
            f"http.port: {self.ports['http']}\n"
            f"transport.port: {self.ports['transport']}\n"
            f"path.data: {self.data}\n"
            f"path.logs: {self.logs}\n"
            "cluster.routing.allocation.disk.threshold_enabled: false\n"
            # no x-pack module is installed, so there is no security either: loopback only
            "action.auto_create_index: false\n",
            encoding="utf-8",
        )
        (self.config / "log4j2.properties").write_text(_LOG4J, encoding="utf-8")
        done = subprocess.run(  # noqa: S603 - our JDK and our compiled tool
            [
                str(self.java.java),
                "-cp",
                f"{classpath(self.home / 'lib')}:{self.home / 'datasoc-tools'}",
                "ArgsWriter",
                str(self.home),
                str(self.config),
                str(self.logs),
            ],
            capture_output=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise FetchError(self.name, "ServerArgs", done.stderr.decode("utf-8", "replace")[-3000:])
        (self.instance / "server-args.bin").write_bytes(done.stdout)

    def _stdin(self) -> bytes:
        return (self.instance / "server-args.bin").read_bytes()

    def _environment(self) -> dict[str, str]:
        # server-cli sets this; without it the server fails with a NullPointerException
        return {**super()._environment(), "LIBFFI_TMPDIR": str(self.tmp)}

    def _argv(self) -> list[str]:
        bridge = next((self.home / "lib" / "entitlement-bridge").glob("*.jar"))
        return [
            str(self.java.java),
            *jvm_common_flags(self.heap_mb, self.tmp),
            "-Xss1m",
            "-Des.networkaddress.cache.ttl=60",
            "-Des.networkaddress.cache.negative.ttl=10",
            "-Djna.nosys=true",
            "-XX:-OmitStackTraceInFastThrow",
            "-Dio.netty.noUnsafe=true",
            "-Dio.netty.noKeySetOptimization=true",
            "-Dio.netty.recycler.maxCapacityPerThread=0",
            "-Dlog4j.shutdownHookEnabled=false",
            "-Dlog4j2.disable.jmx=true",
            "-Dlog4j2.formatMsgNoLookups=true",
            "-Djava.locale.providers=CLDR",
            f"-Duser.home={self.tmp}",
            "-Djdk.attach.allowAttachSelf=true",
            "-XX:+EnableDynamicAgentLoading",
            f"--patch-module=java.base={bridge}",
            "--add-exports=java.base/org.elasticsearch.entitlement.bridge="
            "org.elasticsearch.entitlement,java.logging,java.net.http,java.naming,jdk.net",
            f"-Des.path.home={self.home}",
            f"-Des.path.conf={self.config}",
            "-Des.distribution.type=tar",
            "--module-path",
            str(self.home / "lib"),
            "--add-modules=jdk.net",
            "--add-modules=ALL-MODULE-PATH",
            "-m",
            "org.elasticsearch.server/org.elasticsearch.bootstrap.Elasticsearch",
        ]

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
