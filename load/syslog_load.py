"""Bounded syslog load generator for loopback tests of `datasoc collect` (UDP or TCP).

    python load/syslog_load.py --proto tcp --port 5514 --count 100000 --rate 20000

Sends a mix of RFC 5424 (with BOM and Chinese text) and RFC 3164 sshd/sudo lines. Bounded by
design: loopback addresses only, `--count` at most 10,000,000, and `--rate` messages per second
(0 = as fast as the socket takes them). TCP frames use octet counting or LF (`--framing`).
Prints one JSON line with what it sent. Standalone: imports nothing from datasoc.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import socket
import sys
import time

MAX_COUNT = 10_000_000


def message(number: int, host: str) -> bytes:
    """The `number`-th message: alternating RFC 5424 and RFC 3164 lines."""
    if number % 2 == 0:
        text = (
            f"<38>1 2026-11-28T10:00:00.{number % 1000000:06d}+08:00 {host} sshd {1000 + number % 5000} - - "
            f"\ufeffAccepted password for 用户{number % 50} from 10.1.{number % 250}.{number % 200 + 1} "
            f"port {20000 + number % 40000} ssh2"
        )
    else:
        text = (
            f"<86>Nov 28 10:00:{number % 60:02d} {host} sudo[{number % 30000}]: admin{number % 7} : "
            "TTY=pts/0 ; PWD=/root ; USER=root ; COMMAND=/usr/bin/systemctl status nginx"
        )
    return text.encode()


def _loopback(host: str) -> str:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise SystemExit(f"--host {host!r} must be a literal loopback address") from None
    if not address.is_loopback:
        raise SystemExit(f"--host {host} is not a loopback address; this generator stays on this machine")
    return host


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, send, print a JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--proto", choices=["udp", "tcp"], default="udp")
    parser.add_argument("--framing", choices=["octet", "lf"], default="octet")
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=10_000.0, help="messages per second; 0 = unlimited")
    parser.add_argument("--hostname", default="loadgen", help="HOSTNAME field of the messages")
    args = parser.parse_args(argv)
    host = _loopback(args.host)
    if not 0 < args.count <= MAX_COUNT:
        raise SystemExit(f"--count must be in 1..{MAX_COUNT}")
    if args.rate < 0:
        raise SystemExit("--rate must be >= 0")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    kind = socket.SOCK_DGRAM if args.proto == "udp" else socket.SOCK_STREAM
    sock = socket.socket(family, kind)
    if args.proto == "tcp":
        sock.connect((host, args.port))
    start = time.perf_counter()
    sent_bytes = 0
    try:
        for number in range(args.count):
            payload = message(number, args.hostname)
            if args.proto == "udp":
                sock.sendto(payload, (host, args.port))
            elif args.framing == "octet":
                payload = b"%d %s" % (len(payload), payload)  # RFC 6587 §3.4.1
                sock.sendall(payload)
            else:
                payload += b"\n"  # RFC 6587 §3.4.2
                sock.sendall(payload)
            sent_bytes += len(payload)
            if args.rate:
                ahead = (number + 1) / args.rate - (time.perf_counter() - start)
                if ahead > 0:
                    time.sleep(ahead)
    finally:
        sock.close()
    elapsed = time.perf_counter() - start
    summary = {"sent": args.count, "bytes": sent_bytes, "seconds": round(elapsed, 3)}
    summary["per_second"] = round(args.count / elapsed) if elapsed else args.count
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
