"""The standalone Flink cluster: two TaskManagers registered, the Kafka connector on every one's
class path, every socket of the group on 127.0.0.1, one process group that dies whole. (It runs as
the user who starts it: its TaskManagers run that user's Python; see `Flink.DROP_ROOT`.)"""

from __future__ import annotations

import os
import time
from pathlib import Path

from services import Server
from services.flink import KAFKA_CONNECTOR, SLOTS_PER_TASK_MANAGER, TASK_MANAGERS, Flink
from tests.services.test_services import LOOPBACK


def _group(pgid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == pgid:
                    found.append(int(entry.name))
            except ProcessLookupError:
                continue
    return found


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def _listening(inodes: set[str]) -> dict[str, str]:
    """`{inode: local address hex}` of the listening TCP sockets among `inodes`."""
    found = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:
                found[fields[9]] = fields[1].split(":")[0]
    return found


def test_cluster_has_two_task_managers_with_the_connector_all_on_loopback(flink_server: Server) -> None:
    assert isinstance(flink_server, Flink)
    managers = flink_server.task_managers()
    assert len(managers) == TASK_MANAGERS
    assert [m["slotsNumber"] for m in managers] == [SLOTS_PER_TASK_MANAGER] * TASK_MANAGERS, managers
    connector = f"{KAFKA_CONNECTOR.artifact}-{KAFKA_CONNECTOR.version}.jar"
    assert (flink_server.lib / connector).is_file()
    assert flink_server.pid is not None
    members = _group(flink_server.pid)
    assert len(members) >= 1 + 1 + TASK_MANAGERS  # the leading shell and three JVMs
    listening: dict[str, str] = {}
    for pid in members:
        listening.update(_listening(_socket_inodes(pid)))
    assert len(listening) >= 3 + 2 * TASK_MANAGERS  # REST, RPC, blob; each TaskManager's RPC and data
    assert set(listening.values()) <= LOOPBACK, listening


def test_a_member_exiting_stops_the_whole_cluster(tmp_path: Path) -> None:
    from services import create

    cluster = create("flink")
    try:
        cluster.start()
        cluster.wait_ready()
        assert cluster.pid is not None
        jvms = [pid for pid in _group(cluster.pid) if pid != cluster.pid]
        os.kill(max(jvms), 9)  # one TaskManager dies
        deadline = time.monotonic() + 60
        while cluster.running and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not cluster.running  # the leader noticed and stopped the rest
        deadline = time.monotonic() + 60
        while _group(cluster.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _group(cluster.pid) == []
    finally:
        cluster.close()
