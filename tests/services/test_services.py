"""The server launchers: Java discovery, the recipes' pure parts, and real servers' process hygiene."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from services import Server
from services.base import reap_orphans
from services.errors import ToolMissingError
from services.java import find_java, read_major
from services.opensearch import optional_dependencies


def _fake_jdk(root: Path, version: str) -> Path:
    home = root / f"jdk-{version}"
    (home / "bin").mkdir(parents=True)
    (home / "bin" / "java").write_text("#!/bin/sh\n", encoding="utf-8")
    (home / "release").write_text(f'IMPLEMENTOR="x"\nJAVA_VERSION="{version}"\n', encoding="utf-8")
    return home


def test_java_version_comes_from_the_release_file(tmp_path: Path) -> None:
    assert read_major(_fake_jdk(tmp_path, "17.0.15")) == 17
    assert read_major(_fake_jdk(tmp_path, "25")) == 25
    assert read_major(_fake_jdk(tmp_path, "1.8.0_402")) == 8
    assert read_major(tmp_path / "nothing") is None


def test_find_java_takes_the_first_in_range_and_names_what_it_found(tmp_path: Path) -> None:
    old, new = _fake_jdk(tmp_path, "11.0.2"), _fake_jdk(tmp_path, "21.0.1")
    environ = {"SERVICES_JAVA_HOMES": os.pathsep.join([str(old), str(new)]), "PATH": ""}
    assert find_java("x", range(17, 24), environ).home == new.resolve()
    with pytest.raises(ToolMissingError, match=r"Java 99 to 99.*found: 11 at .*jdk-11") as caught:
        find_java("a test", range(99, 100), environ)
    assert caught.value.needed_by == "a test"


def test_optional_dependencies_of_a_pom() -> None:
    pom = """<project><dependencies>
      <dependency><groupId>org.apache.lucene</groupId><artifactId>lucene-core</artifactId>
        <version>9.12.1</version><scope>compile</scope></dependency>
      <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId>
        <version>2.21.0</version><optional>true</optional></dependency>
      <dependency><groupId>org.locationtech.jts</groupId><artifactId>jts-core</artifactId>
        <version>1.15.0</version><optional>true</optional></dependency>
    </dependencies></project>"""
    found = [str(c) for c in optional_dependencies(pom)]
    assert found == [
        "org.apache.logging.log4j:log4j-core:2.21.0:jar",
        "org.locationtech.jts:jts-core:1.15.0:jar",
    ]


LOOPBACK = {"0100007F", "0000000000000000FFFF00000100007F"}  # 127.0.0.1, and as IPv4-mapped IPv6


def _listening_addresses(port: int) -> set[str]:
    """Local addresses (hex, as in /proc/net/tcp) of sockets listening on `port`."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].split(":")
            if int(hex_port, 16) == port and fields[3] == "0A":  # 0A = LISTEN
                found.add(address)
    return found


def _uid_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError("no Uid line")


@pytest.mark.parametrize("fixture", ["opensearch_server", "elasticsearch_server", "kafka_server"])
def test_servers_listen_on_loopback_only_and_not_as_root(
    request: pytest.FixtureRequest, fixture: str
) -> None:
    server: Server = request.getfixturevalue(fixture)
    assert server.running
    assert server.pid is not None
    for port in server.ports.values():
        found = _listening_addresses(port)
        assert found, f"nothing listens on port {port}"
        assert found <= LOOPBACK, f"port {port} listens beyond 127.0.0.1: {found}"
    if os.geteuid() == 0:
        assert _uid_of(server.pid) != 0
    assert os.getpgid(server.pid) == server.pid  # its own process group, stopped as one


@pytest.mark.slow
def test_kill_and_restart_keeps_data_and_close_leaves_no_process(own_kafka: Server) -> None:
    admin = AdminClient({"bootstrap.servers": own_kafka.address})
    admin.create_topics([NewTopic("kept", num_partitions=2, replication_factor=1)])["kept"].result(30)
    pid = own_kafka.pid
    assert pid is not None
    own_kafka.kill()
    assert not own_kafka.running
    own_kafka.start()
    own_kafka.wait_ready()
    assert own_kafka.pid != pid
    topics = AdminClient({"bootstrap.servers": own_kafka.address}).list_topics(timeout=30).topics
    assert len(topics["kept"].partitions) == 2
    last, instance = own_kafka.pid, own_kafka.instance
    assert last is not None
    own_kafka.close()
    with pytest.raises(ProcessLookupError):
        os.killpg(last, 0)
    assert not instance.exists()  # a temporary instance leaves nothing behind


def test_reap_orphans_stops_only_recorded_servers_of_dead_owners(tmp_path: Path) -> None:
    run = tmp_path / "run"
    orphan, alive_owner = run / "orphan", run / "owned"
    for folder in (orphan, alive_owner):
        folder.mkdir(parents=True)
    gone = subprocess.Popen(["true"])
    gone.wait()
    sleeper = [sys.executable, "-c", "import time; time.sleep(120)"]
    servers = [subprocess.Popen([*sleeper, str(f)], start_new_session=True) for f in (orphan, alive_owner)]
    try:
        (orphan / "owner.json").write_text(
            json.dumps({"owner": gone.pid, "server": servers[0].pid, "temp": True})
        )
        (alive_owner / "owner.json").write_text(
            json.dumps({"owner": os.getpid(), "server": servers[1].pid, "temp": True})
        )
        assert reap_orphans(tmp_path) == ["orphan"]
        assert servers[0].wait(10) == -9
        assert not orphan.exists()
        time.sleep(0.2)
        assert servers[1].poll() is None  # its owner (this test) lives: untouched
        assert alive_owner.exists()
    finally:
        for process in servers:
            process.kill()
            process.wait()


def test_a_kafka_cluster_id_never_looks_like_an_option() -> None:
    # One instance name in 64 gave an id starting with "-", and `kafka-storage format` refused it.
    import hashlib

    from services.kafka import _cluster_id

    seeds = [f"kafka-{n}" for n in range(400)]
    plain = [base64.urlsafe_b64encode(hashlib.sha256(s.encode()).digest()[:16]) for s in seeds]
    assert any(p.startswith(b"-") for p in plain)  # the case exists among these names
    for seed in seeds:
        found = _cluster_id(seed)
        assert not found.startswith("-")
        assert len(base64.urlsafe_b64decode(found + "==")) == 16
        assert found == _cluster_id(seed)  # stable: a kept instance keeps its id
