"""Kafka in KRaft mode from Maven Central jars: one JVM that is both controller and broker.

The broker jar `kafka_2.13` brings the server modules transitively; `log4j-slf4j-impl` is the
logging binding the distribution ships (Kafka 4 logs through log4j2; without a binding it is
silent). The storage is formatted once per instance (`StorageTool format --standalone`).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import socket
import subprocess
from pathlib import Path
from typing import ClassVar

from services.base import Server, classpath, give_to_runner, jvm_common_flags, run_as_prefix
from services.errors import StartError
from services.maven import Coordinate, copy_dependency_sets

LOG4J_SLF4J = "2.25.5"


class Kafka(Server):
    """A one-node KRaft Kafka; `address` is its bootstrap `host:port`."""

    name: ClassVar[str] = "kafka"
    VERSION: ClassVar[str] = "4.4.0"
    HEAP_MB: ClassVar[int] = 256

    @classmethod
    def java_versions(cls, version: str) -> range:
        return range(17, 26)

    @classmethod
    def port_names(cls) -> tuple[str, ...]:
        return ("broker", "controller")

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.ports['broker']}"

    def _recipe(self) -> str:
        return f"kafka_2.13 {self.version} log4j-slf4j-impl {LOG4J_SLF4J}"

    def _assemble(self, home: Path, work: Path) -> None:
        copy_dependency_sets(
            self.name,
            {
                home / "libs": [
                    Coordinate("org.apache.kafka", "kafka_2.13", self.version),
                    Coordinate("org.apache.logging.log4j", "log4j-slf4j-impl", LOG4J_SLF4J),
                ]
            },
            work / "reactor",
        )

    def _configure(self) -> None:
        broker, controller = self.ports["broker"], self.ports["controller"]
        (self.config / "server.properties").write_text(
            "process.roles=broker,controller\n"
            "node.id=1\n"
            f"controller.quorum.bootstrap.servers=127.0.0.1:{controller}\n"
            f"listeners=PLAINTEXT://127.0.0.1:{broker},CONTROLLER://127.0.0.1:{controller}\n"
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{broker}\n"
            "controller.listener.names=CONTROLLER\n"
            "inter.broker.listener.name=PLAINTEXT\n"
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT\n"
            f"log.dirs={self.data}\n"
            "num.partitions=1\n"
            "offsets.topic.replication.factor=1\n"
            "offsets.topic.num.partitions=4\n"
            "transaction.state.log.replication.factor=1\n"
            "transaction.state.log.min.isr=1\n"
            "transaction.state.log.num.partitions=4\n"
            "share.coordinator.state.topic.replication.factor=1\n"
            "share.coordinator.state.topic.min.isr=1\n"
            "group.initial.rebalance.delay.ms=0\n"
            # topics are created by the transport with their settings, never by a typo
            "auto.create.topics.enable=false\n",
            encoding="utf-8",
        )
        (self.config / "log4j2.properties").write_text(_LOG4J, encoding="utf-8")
        if (self.data / "meta.properties").exists():
            return  # a kept local instance: formatted on its first start
        # Formatting writes meta.properties into log.dirs; run it as the user the broker runs as.
        give_to_runner(self.config, self.data)
        done = subprocess.run(  # noqa: S603 - our JDK, our class path, our config
            [
                *run_as_prefix(),
                str(self.java.java),
                *self._jvm(),
                "kafka.tools.StorageTool",
                "format",
                "--standalone",
                "--cluster-id",
                _cluster_id(self.instance.name),
                "--config",
                str(self.config / "server.properties"),
            ],
            cwd=self.instance,
            env=self._environment(),
            capture_output=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise StartError(
                self.name, "formatting the storage failed", done.stderr.decode("utf-8", "replace")
            )

    def _jvm(self) -> list[str]:
        return [
            *jvm_common_flags(self.heap_mb, self.tmp),
            "-XX:MaxGCPauseMillis=20",
            f"-Dlog4j2.configurationFile={self.config / 'log4j2.properties'}",
            "-cp",
            classpath(self.home / "libs"),
        ]

    def _argv(self) -> list[str]:
        return [str(self.java.java), *self._jvm(), "kafka.Kafka", str(self.config / "server.properties")]

    def _probe(self) -> bool:
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import AdminClient

        try:  # a plain connect first: librdkafka would log every refused connection
            socket.create_connection(("127.0.0.1", self.ports["broker"]), timeout=1).close()
        except OSError:
            return False
        quiet = logging.getLogger("services.kafka.probe")
        quiet.addHandler(logging.NullHandler())
        quiet.propagate = False
        admin = AdminClient({"bootstrap.servers": self.address, "socket.timeout.ms": 2000}, logger=quiet)
        try:
            metadata = admin.list_topics(timeout=2)
        except KafkaException:
            return False
        return bool(metadata.brokers)


def _cluster_id(seed: str) -> str:
    """A valid cluster id (22 characters of URL-safe base64 of 16 bytes) derived from `seed`."""
    encoded = base64.urlsafe_b64encode(hashlib.sha256(seed.encode()).digest()[:16]).decode().rstrip("=")
    # One leading "-" in 64 made the storage tool take the id for an option and refuse to format.
    return "A" + encoded[1:] if encoded.startswith("-") else encoded


_LOG4J = """status = error
appender.console.type = Console
appender.console.name = console
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.console.ref = console
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
"""
