"""Nothing the running job opens listens beyond its configured address, and its REST API serves no one
without the job's key (issue: the MiniCluster's REST API on every interface let anyone cancel detection).

Read from `/proc`: every listening TCP socket of this process and of its children (PyFlink's gateway
JVM, which runs the MiniCluster; Python workers in process mode), found by the socket inodes in
`/proc/<pid>/fd` and their addresses in `/proc/<pid>/net/tcp*`.
"""

from __future__ import annotations

import http.client
import ipaddress
import os
import ssl
from pathlib import Path

import pytest

from tests.detection.stream.conftest import Platform

_LISTEN = "0A"


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found


def _address(hex_address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An address of `/proc/net/tcp*` (32-bit words in host order, little-endian here)."""
    raw = bytes.fromhex(hex_address)
    packed = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    address = ipaddress.ip_address(packed)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def listening(pid: int) -> list[tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]]:
    """(address, port) of every listening TCP socket process `pid` holds."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == _LISTEN and fields[9] in inodes:
                host, port = fields[1].split(":")
                found.append((_address(host), int(port, 16)))
    return found


def _is_flink_gateway(pid: int) -> bool:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"java" in command[0] and b"org.apache.flink.client.python.PythonGatewayServer" in command


@pytest.mark.skipif(not Path("/proc/self/net/tcp").exists(), reason="needs Linux /proc")
def test_every_port_of_the_running_job_is_on_its_bind_address(stream: Platform) -> None:
    stream.wait_for("the job to run", lambda: stream.client.get_job_status().result().name == "RUNNING")
    allowed = {ipaddress.ip_address(stream.config.bind_address), ipaddress.ip_address("::1")}
    sockets = {pid: listening(pid) for pid in _descendants(os.getpid())}
    java = [pid for pid in sockets if b"java" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]]
    assert java, "the gateway JVM is a child of this process"
    assert sum(len(sockets[pid]) for pid in java) >= 2  # at least the REST endpoint and the gateway
    wide = {pid: [s for s in found if s[0] not in allowed] for pid, found in sockets.items()}
    assert not any(wide.values()), f"listening beyond {sorted(map(str, allowed))}: {wide}"


def test_the_rest_api_refuses_a_client_without_the_jobs_key(stream: Platform) -> None:
    job_id = str(stream.client.get_job_id())
    # Only the gateway JVM that runs the job: the session's OpenSearch, Elasticsearch and Kafka servers
    # (other tests' fixtures) are Java children of this process too, with their own HTTP APIs.
    gateway = [p for p in _descendants(os.getpid()) if _is_flink_gateway(p)]
    assert gateway, "the gateway JVM is a child of this process"
    ports = [port for pid in gateway for _, port in listening(pid)]
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    answered = []
    for port in ports:
        for connection in (
            http.client.HTTPConnection("127.0.0.1", port, timeout=5),
            http.client.HTTPSConnection("127.0.0.1", port, timeout=5, context=context),
        ):
            try:
                connection.request("PATCH", f"/jobs/{job_id}?mode=cancel")
                answered.append((port, connection.getresponse().status))
            except (OSError, http.client.HTTPException):
                pass  # refused: no client certificate, or not HTTP at all
            finally:
                connection.close()
    # Plain HTTP only gets a redirect to HTTPS; HTTPS without the key gets no answer at all.
    assert all(status in (301, 302, 307, 308) for _, status in answered), answered
    assert stream.client.get_job_status().result().name == "RUNNING"
