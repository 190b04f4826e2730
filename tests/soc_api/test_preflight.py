"""Operators' mistakes are refused before anything is opened: one line naming the key, the value and
what to do, exit code 2, no traceback, no secret; and the files the platform makes are private."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from crypto.keystore import KeyStore

REPO = Path(__file__).resolve().parents[2]
SECRET = "MARKED-SECRET-0123456789abcdef"
OTHER_SECRET = "MARKED-PASSPHRASE-fedcba9876543210"


def datasoc(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    datasoc_bin = Path(sys.executable).with_name("datasoc")
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DATASOC_DETECTION__ENGINE": "inprocess"}
    return subprocess.run(
        [str(datasoc_bin), *args], env={**base, **env}, cwd=cwd, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield sock.getsockname()[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wrong_passphrase(data: Path) -> dict[str, str]:
    from datetime import UTC, datetime

    KeyStore.create(data / "keys", b"the-right-passphrase-123", now=datetime(2026, 12, 1, tzinfo=UTC))
    return {"DATASOC_LEDGER__KEY_PASSPHRASE": OTHER_SECRET}


def _file_as_data_dir(data: Path) -> dict[str, str]:
    data.rmdir()
    data.write_text("not a directory", encoding="utf-8")
    return {}


def _open_data_dir(data: Path) -> dict[str, str]:
    data.chmod(0o777)
    return {}


def _same_port(data: Path) -> dict[str, str]:
    port = str(_free_port())
    return {"DATASOC_COLLECT__HTTP_PORT": port, "DATASOC_COLLECT__SYSLOG_TCP_PORT": port}


CASES: dict[str, tuple[Callable[[Path], dict[str, str]], str]] = {
    "infinite lateness": (
        lambda _d: {"DATASOC_DETECTION__ALLOWED_LATENESS_SECONDS": "inf"},
        "detection.allowed_lateness_seconds = 'inf': Input should be a finite number",
    ),
    "infinite checkpoint interval": (
        lambda _d: {"DATASOC_LEDGER__CHECKPOINT_SECONDS": "inf"},
        "ledger.checkpoint_seconds = 'inf'",
    ),
    "impossible address": (lambda _d: {"DATASOC_COLLECT__HOST": "999.1.1.1"}, "collect.host = '999.1.1.1'"),
    "two inputs on one port": (_same_port, "collect.syslog_tcp_port = "),
    "missing tokens file": (
        lambda d: {"DATASOC_COLLECT__TOKENS_FILE": str(d / "nope.json")},
        f"collect.tokens_file = {{data}}{os.sep}nope.json: no such file",
    ),
    "missing TLS certificate": (
        lambda d: {
            "DATASOC_COLLECT__SYSLOG_TLS_PORT": str(_free_port()),
            "DATASOC_COLLECT__TLS_CERT": str(d / "cert.pem"),
            "DATASOC_COLLECT__TLS_KEY": str(d / "key.pem"),
        },
        "collect.tls_cert = {data}/cert.pem: no such file",
    ),
    "missing catalog": (
        lambda d: {"DATASOC_GOVERNANCE__CATALOG": str(d / "catalog.json")},
        "governance.catalog = {data}/catalog.json: no such file",
    ),
    "data_dir is a file": (_file_as_data_dir, "data_dir = {data}: is a file"),
    "data_dir writable by others": (_open_data_dir, "data_dir = {data}: is writable by other users"),
    "wrong key passphrase": (
        _wrong_passphrase,
        "ledger.key_passphrase = <secret>: cannot open the key store",
    ),
    "production with short retention": (
        lambda _d: {
            "DATASOC_MODE": "production",
            "DATASOC_API__SECRET_KEY": SECRET,
            "DATASOC_LEDGER__KEY_PASSPHRASE": OTHER_SECRET,
            "DATASOC_STORE__RETENTION_DAYS": "30",
        },
        "store.retention_days = '30': 30 is below 184",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_mistake_is_refused_before_anything_opens(tmp_path: Path, case: str) -> None:
    data = tmp_path / "var"
    data.mkdir(mode=0o700)
    make_env, expected = CASES[case]
    env = {
        "DATASOC_DATA_DIR": str(data),
        "DATASOC_COLLECT__HTTP_PORT": "0",
        "DATASOC_API__PORT": "0",
        **make_env(data),
    }
    result = datasoc(["run"], env, tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert expected.format(data=data) in output
    assert "Traceback" not in output
    assert SECRET not in output
    assert OTHER_SECRET not in output
    if data.is_dir():
        assert not (data / "spool").exists()  # nothing was opened
        assert not (data / "ledger").exists()


def test_a_port_in_use_is_refused_naming_it(tmp_path: Path, busy_port: int) -> None:
    result = datasoc(
        ["run"],
        {
            "DATASOC_DATA_DIR": str(tmp_path / "var"),
            "DATASOC_COLLECT__HTTP_PORT": str(busy_port),
            "DATASOC_API__PORT": "0",
        },
        tmp_path,
    )
    assert result.returncode == 2
    assert f"collect.http_port = {busy_port}: cannot listen on 127.0.0.1:{busy_port}" in result.stderr
    assert not (tmp_path / "var" / "spool").exists()


def test_the_api_port_in_use_is_refused_naming_it(tmp_path: Path, busy_port: int) -> None:
    env = {"DATASOC_DATA_DIR": str(tmp_path / "var"), "DATASOC_COLLECT__HTTP_PORT": "0"}
    result = datasoc(["run"], {**env, "DATASOC_API__PORT": str(busy_port)}, tmp_path)
    assert result.returncode == 2
    assert f"api.port = {busy_port}: cannot listen on 127.0.0.1:{busy_port}" in result.stderr


def test_every_file_the_platform_writes_is_private(tmp_path: Path) -> None:
    data = tmp_path / "var"
    result = datasoc(
        ["demo", "--days", "1"],
        {"DATASOC_DATA_DIR": str(data), "DATASOC_COLLECT__HTTP_PORT": "0", "DATASOC_API__PORT": "0"},
        tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    exposed = []
    for path in [data, *data.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if not path.is_symlink() and mode & 0o077:
            exposed.append(f"{path.relative_to(tmp_path)} {mode:o}")
    assert exposed == []
    assert (data / "events.sqlite3").exists()
    assert (data / "ledger").is_dir()
