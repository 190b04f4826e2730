"""`python -m services up|fetch [NAME...]`: run the servers for local use, or only fetch them.

`up` starts every named server (all by default) on the ports of `services.SPECS`, keeping their
data under `services_dir()/run/local-<name>`, prints each address once it is ready, and stops them
all on Ctrl-C or SIGTERM. `fetch` assembles the homes only (CI warms them before the tests).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections.abc import Sequence
from types import FrameType

from services import SPECS, ServiceError, create
from services.base import READY_TIMEOUT_S, Server


def _up(names: Sequence[str], ready_timeout: float) -> int:
    servers: list[Server] = []
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    try:
        for name in names:
            server = create(name, temporary=False)
            servers.append(server)
            print(f"{name} {server.version}: fetching and starting (java {server.java.major})", flush=True)
            server.start()
        for server in servers:
            waited = server.wait_ready(ready_timeout)
            print(f"{server.name:<14} ready after {waited:5.1f} s at {server.address}", flush=True)
            print(f"{'':<14} data and logs in {server.instance}", flush=True)
        print("all ready; Ctrl-C stops them", flush=True)
        while not stop.wait(1.0):
            for server in servers:
                if not server.running:
                    print(f"{server.name} exited; its log:\n{server.log_tail()}", file=sys.stderr)
                    return 1
    except KeyboardInterrupt:
        pass
    except ServiceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not leave servers behind
        for server in reversed(servers):
            started = time.monotonic()
            server.close()
            print(f"{server.name} stopped in {time.monotonic() - started:.1f} s", flush=True)
    return 0


def _fetch(names: Sequence[str]) -> int:
    for name in names:
        started = time.monotonic()
        try:
            server = create(name)
            home = server.fetch()
            server.close()
        except ServiceError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"{name}: {home} ({time.monotonic() - started:.1f} s)", flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m services`."""
    parser = argparse.ArgumentParser(prog="python -m services", description=__doc__.split("\n", 1)[0])
    parser.add_argument("command", choices=("up", "fetch"))
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"any of {', '.join(SPECS)} (default: all)")
    parser.add_argument("--ready-timeout", type=float, default=READY_TIMEOUT_S, help="seconds")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(SPECS))
    if unknown:
        parser.error(f"unknown server {unknown[0]!r}; choose from {', '.join(SPECS)}")
    names = args.names or list(SPECS)
    return _up(names, args.ready_timeout) if args.command == "up" else _fetch(names)


if __name__ == "__main__":
    sys.exit(main())
