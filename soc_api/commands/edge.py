"""The CLI's edge: the one place the clock and the id source are read (and the process
environment written).

Everything below the commands takes `now` (or a clock) and `new_id` as parameters.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from pathlib import Path


def now() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def new_id() -> str:
    """A fresh random id (event ids assigned at ingest)."""
    return uuid.uuid4().hex


def private_files() -> None:
    """Files and directories this process creates are its user's only (umask 077: 0600 and 0700),
    the event store, its WAL, the ledger, exports and the Flink job's state included; the JVM
    PyFlink starts inherits it."""
    os.umask(0o077)


def flink_logs_in(directory: Path) -> None:
    """Send the logs of the PyFlink gateway JVM this process starts to `directory`.

    PyFlink launches its JVM once per process, from `pyflink/pyflink_gateway_server.py`, which takes
    the log directory from `FLINK_LOG_DIR` in the environment, else from `env.log.dir` in the
    wheel's config, else `<site-packages>/pyflink/log`: inside the venv, shared by every data
    directory. Call this before the first job starts. An operator's own `FLINK_LOG_DIR` wins.
    """
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.environ.setdefault("FLINK_LOG_DIR", str(directory.resolve()))


def os_user() -> str:
    """The operator's login name on this host (the CLI's actor: `cli:<name>`)."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid-{os.getuid()}"
