"""Start `datasoc run` as a process of its own and wait until it says it is ready (test helper)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def spawn_run(
    data_dir: Path, extra_env: dict[str, str], *, interval: float, log: Path | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """`datasoc run --interval INTERVAL` over `data_dir` (HTTP on a free port, tokens from
    `data_dir/tokens.json`, plus `extra_env`); returns the process, once ready, and its ingest URL.
    A process that exits before its ready line fails the test with the end of its stderr. With `log`,
    stderr is appended to that file (a long test must not leave a pipe nobody reads: a full one
    blocks the process at its next log line)."""
    proc, addresses = spawn_run_listening(data_dir, extra_env, interval=interval, log=log)
    host, port = addresses["http"]
    return proc, f"http://{host}:{port}/api/v1/ingest"


def spawn_run_listening(
    data_dir: Path, extra_env: dict[str, str], *, interval: float, log: Path | None = None
) -> tuple[subprocess.Popen[bytes], dict[str, list[object]]]:
    """`spawn_run`, returning every bound address of the ready line (`http`, `tcp`, `udp`, `tls`)."""
    env = {
        "DATASOC_DATA_DIR": str(data_dir),
        "DATASOC_COLLECT__HTTP_PORT": "0",
        "DATASOC_API__PORT": "0",
        "DATASOC_COLLECT__TOKENS_FILE": "tokens.json",
        **extra_env,
    }
    datasoc = Path(sys.executable).with_name("datasoc")
    with log.open("ab") if log is not None else contextlib.nullcontext(subprocess.PIPE) as stderr:
        proc = subprocess.Popen(
            [str(datasoc), "run", "--interval", str(interval)],
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=env,
            cwd=REPO,
        )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # printed once detection has started and the inputs listen
    if not line:
        _out, err = proc.communicate(timeout=30)
        said = log.read_bytes() if log is not None else err
        raise AssertionError(f"datasoc run exited before ready: {said.decode()[-3000:]}")
    try:
        addresses = json.loads(line)["ready"]
        _host, _port = addresses["http"]
    except (ValueError, KeyError, TypeError):
        proc.kill()
        proc.communicate(timeout=30)
        raise AssertionError(f"datasoc run said {line[:500]!r} instead of its ready line") from None
    return proc, addresses
