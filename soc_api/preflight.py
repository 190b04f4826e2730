"""Start-up checks run before anything is opened: each problem is one line naming the key, its value
and what to do, and the command exits 2 (no traceback, nothing half-opened, no secret shown).

What settings validation cannot see is checked here, against the machine: the data directory (a
directory, writable, not writable by others), the addresses (resolvable), the ports (free, no two
inputs on one port), the files the settings name (present and readable), and the key store's
passphrase (the key store is opened and closed again, so a wrong passphrase is refused before the
spool, store or ledger are touched).
"""

from __future__ import annotations

import os
import socket
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from crypto.errors import CryptoError
from crypto.keystore import KeyStore
from datasoc.settings import Settings


@dataclass(frozen=True)
class Problem:
    """One reason not to start."""

    key: str
    value: str
    fix: str

    def __str__(self) -> str:
        return f"{self.key} = {self.value}: {self.fix}"


@dataclass(frozen=True)
class Listener:
    """A port the platform will bind."""

    key: str
    host: str
    port: int
    kind: int  # socket.SOCK_STREAM or SOCK_DGRAM


def listeners(settings: Settings, *, inputs: bool = True, api: bool = False) -> list[Listener]:
    """Every port `datasoc run` binds (port 0 means "any free one" and is not checked)."""
    c = settings.collect
    found: list[Listener] = []
    if api and settings.api.port:
        found.append(Listener("api.port", settings.api.host, settings.api.port, socket.SOCK_STREAM))
    if inputs:
        for key, port, kind in (
            ("collect.http_port", c.http_port, socket.SOCK_STREAM),
            ("collect.syslog_tcp_port", c.syslog_tcp_port, socket.SOCK_STREAM),
            ("collect.syslog_tls_port", c.syslog_tls_port, socket.SOCK_STREAM),
            ("collect.syslog_udp_port", c.syslog_udp_port, socket.SOCK_DGRAM),
        ):
            if port:
                found.append(Listener(key, c.host, port, kind))
    return found


def check(settings: Settings, *, inputs: bool = True, api: bool = False) -> list[Problem]:
    """Every problem found (empty: good to start)."""
    problems = _data_dir(settings.data_dir)
    problems += _addresses(settings, inputs=inputs)
    if not any(p.key.endswith(".host") for p in problems):
        problems += _ports(listeners(settings, inputs=inputs, api=api))
    problems += _files(settings, inputs=inputs)
    if not problems:
        problems += _key_store(settings)
    return problems


def _data_dir(path: Path) -> list[Problem]:
    shown = str(path)
    if path.exists() and not path.is_dir():
        return [Problem("data_dir", shown, "is a file, not a directory; point data_dir at a directory")]
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        return [Problem("data_dir", shown, f"{existing} is a file; point data_dir at a directory")]
    mode = existing.stat().st_mode
    if existing == path and mode & (stat.S_IWGRP | stat.S_IWOTH):
        return [
            Problem(
                "data_dir",
                shown,
                f"is writable by other users (mode {stat.S_IMODE(mode):o}); run `chmod 700 {shown}` "
                "(audit data must not be replaceable by others)",
            )
        ]
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".datasoc-write-check-"):
            pass
    except OSError as exc:
        return [
            Problem("data_dir", shown, f"cannot write in {existing} ({exc.strerror}); choose a writable one")
        ]
    return []


def _addresses(settings: Settings, *, inputs: bool) -> list[Problem]:
    c = settings.collect
    ports = (c.http_port, c.syslog_tcp_port, c.syslog_tls_port, c.syslog_udp_port)
    hosts = [("collect.host", c.host)] if inputs and any(p is not None for p in ports) else []
    problems = []
    for key, host in hosts:
        # Bound on port 0: the address must resolve and belong to this machine.
        error = _bind_error(Listener(key, host, 0, socket.SOCK_STREAM))
        if error is not None:
            fix = f"not an address this machine can listen on ({error}); use one of its IP addresses"
            problems.append(Problem(key, repr(host), fix))
    return problems


def _ports(wanted: list[Listener]) -> list[Problem]:
    problems = []
    seen: dict[tuple[int, int], Listener] = {}
    for listener in wanted:
        twin = seen.get((listener.kind, listener.port))
        if twin is not None:
            problems.append(
                Problem(listener.key, str(listener.port), f"is also {twin.key}; give each input its own port")
            )
            continue
        seen[(listener.kind, listener.port)] = listener
        error = _bind_error(listener)
        if error is not None:
            where = f"{listener.host}:{listener.port}"
            fix = f"cannot listen on {where} ({error}); stop what uses it or choose another port"
            problems.append(Problem(listener.key, str(listener.port), fix))
    return problems


def _bind_error(listener: Listener) -> str | None:
    """Why `listener` cannot bind now, or None (the probe socket is closed again at once)."""
    family = socket.AF_INET6 if ":" in listener.host else socket.AF_INET
    with socket.socket(family, listener.kind) as sock:
        if listener.kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the real listener does
        try:
            sock.bind((listener.host, listener.port))
        except (OSError, UnicodeError, OverflowError) as exc:  # gaierror is an OSError
            return getattr(exc, "strerror", None) or str(exc)
    return None


def _files(settings: Settings, *, inputs: bool) -> list[Problem]:
    c, g = settings.collect, settings.governance
    named: list[tuple[str, Path | None]] = [
        ("governance.catalog", g.catalog),
        ("governance.approvals", g.approvals),
    ]
    if inputs:
        named += [("collect.tokens_file", c.tokens_file)]
        if c.syslog_tls_port is not None:
            named += [("collect.tls_cert", c.tls_cert), ("collect.tls_key", c.tls_key)]
            named += [("collect.tls_client_ca", c.tls_client_ca)]
    problems = []
    for key, value in named:
        if value is None:
            continue
        path = settings.resolve(value)
        if not path.is_file():
            problems.append(Problem(key, str(path), "no such file; create it or fix the path"))
        elif not os.access(path, os.R_OK):
            problems.append(Problem(key, str(path), "not readable by this user"))
    for index, root in enumerate(settings.detection.rules):
        if not root.exists():
            problems.append(Problem(f"detection.rules[{index}]", str(root), "no such file or directory"))
    return problems


def _key_store(settings: Settings) -> list[Problem]:
    path = settings.resolve(settings.ledger.keys_path)
    if not (path.is_dir() and any(path.iterdir())):
        return []  # created on first start
    passphrase = settings.ledger.key_passphrase.get_secret_value().encode("utf-8")
    try:
        KeyStore.open(path, passphrase)
    except CryptoError as exc:
        return [
            Problem(
                "ledger.key_passphrase",
                "<secret>",
                f"cannot open the key store at {path}: {type(exc).__name__}; set the passphrase it was "
                "created with (DATASOC_LEDGER__KEY_PASSPHRASE)",
            )
        ]
    return []
