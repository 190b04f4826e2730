"""Sign-in latency over HTTP with the production argon2id parameters, next to the raw argon2 cost.

A real API (uvicorn on loopback, real state store and ledger with fsync) takes `concurrency`
simultaneous password sign-ins per round (each its own account, so no lockout interplay);
latency is measured per request from the client. The reference is the same argon2id parameters'
raw verify time, alone and at the same concurrency, in the same run.
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from audit.checkpoint import CheckpointPolicy
from audit.ledger import Ledger
from crypto.primitives.sm2_keys import ScryptParams
from crypto.recipes import KeyStore
from datasoc.state import StateStore
from soc_api.identity import MIGRATIONS, Identity, IdentityConfig
from soc_api.identity.actors import Actor
from soc_api.identity.audit import LedgerAudit
from soc_api.identity.passwords import Argon2Params
from soc_api.identity.roles import Role
from soc_api.webapi import ApiConfig, ApiServices, create_api
from soc_api.webapi.server import bind

PASSWORD = "Bench-Password-42!"  # noqa: S105 - the bench accounts' password


def _now() -> datetime:
    return datetime.now(UTC)


def percentile(samples: list[float], q: float) -> float:
    """The q-quantile (nearest rank) of `samples`."""
    ordered = sorted(samples)
    rank = min(len(ordered), max(1, math.ceil(q * len(ordered))))  # the smallest with q of them at or below
    return ordered[rank - 1]


def _raw(params: Argon2Params, concurrency: int, rounds: int) -> tuple[list[float], list[float]]:
    hasher = params.hasher()
    stored = hasher.hash(PASSWORD)

    def one() -> float:
        start = time.perf_counter()
        hasher.verify(stored, PASSWORD)
        return time.perf_counter() - start

    alone = [one() for _ in range(rounds * 4)]
    together: list[float] = []
    with ThreadPoolExecutor(concurrency) as pool:
        for _ in range(rounds):
            together.extend(pool.map(lambda _: one(), range(concurrency)))
    return alone, together


def _client(port: int, names: list[str], rounds: int, queue: Any) -> None:
    """`rounds` rounds of one simultaneous sign-in per name; puts (latencies, failures, seconds)."""
    latencies: list[float] = []
    failures = 0

    async def main() -> None:
        nonlocal failures
        limits = httpx.Limits(max_connections=len(names))
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=30
        ) as client:
            await asyncio.gather(*(client.get("/api/v1/session") for _ in names))  # connections first

            async def one(name: str) -> None:
                nonlocal failures
                start = time.perf_counter()
                answer = await client.post("/api/v1/session", json={"username": name, "password": PASSWORD})
                latencies.append(time.perf_counter() - start)
                failures += answer.status_code != 201

            for _ in range(rounds):
                await asyncio.gather(*(one(name) for name in names))

    started = time.perf_counter()
    asyncio.run(main())
    queue.put((latencies, failures, time.perf_counter() - started))


def run_signin_bench(
    directory: Path, *, concurrency: int, rounds: int, params: Argon2Params
) -> dict[str, Any]:
    """Figures of one run (seconds), see module docstring."""
    keys = KeyStore.create(
        directory / "keys", b"bench-passphrase", now=_now(), scrypt_params=ScryptParams(n=2**10)
    )
    ledger = Ledger.open(
        directory / "ledger", keys.signing_key, origin="bench/signin", policy=CheckpointPolicy()
    )
    state = StateStore.open(directory / "state.sqlite3")
    state.migrate(MIGRATIONS, now=_now)
    identity = Identity.build(state, LedgerAudit(ledger, state, _now), keys, IdentityConfig(argon2=params))
    names = [f"bench-{i:03d}" for i in range(concurrency)]
    for name in names:
        identity.accounts.create(
            Actor.cli("bench"),
            username=name,
            display_name=name,
            password=PASSWORD,
            roles={Role.VIEWER},
            now=_now(),
        )
    app = create_api(ApiServices(identity=identity, config=ApiConfig(cookie_secure=False)))
    import uvicorn

    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    # The client runs in a process of its own: in this one it would compete with the server for
    # the interpreter lock and inflate the latencies it measures.
    ctx = multiprocessing.get_context("spawn")
    queue: Any = ctx.Queue()
    client = ctx.Process(target=_client, args=(port, names, rounds, queue))
    try:
        client.start()
        latencies, failures, elapsed = queue.get(timeout=600)
        client.join(60)
    finally:
        server.should_exit = True
        thread.join()
        ledger.close()
        state.close()
    alone, together = _raw(params, concurrency, rounds)
    return {
        "concurrency": concurrency,
        "rounds": rounds,
        "argon2": {
            "memory_kib": params.memory_kib,
            "time_cost": params.time_cost,
            "parallelism": params.parallelism,
        },
        "signin_p50_ms": percentile(latencies, 0.5) * 1000,
        "signin_p99_ms": percentile(latencies, 0.99) * 1000,
        "signin_per_s": len(latencies) / elapsed,
        "failures": failures,
        "raw_alone_p50_ms": statistics.median(alone) * 1000,
        "raw_alone_p99_ms": percentile(alone, 0.99) * 1000,
        "raw_concurrent_p50_ms": percentile(together, 0.5) * 1000,
        "raw_concurrent_p99_ms": percentile(together, 0.99) * 1000,
    }


def format_signin_report(f: dict[str, Any]) -> str:
    """The table `datasoc bench signin` prints."""
    a = f["argon2"]
    return "\n".join(
        [
            f"sign-in bench: {f['concurrency']} concurrent sign-ins x {f['rounds']} rounds, argon2id "
            f"m={a['memory_kib']} KiB t={a['time_cost']} p={a['parallelism']} (OWASP), "
            "real ledger and state store",
            f"{'what':<44}{'p50 ms':>9}{'p99 ms':>9}",
            f"{'HTTP sign-in (POST /api/v1/session)':<44}{f['signin_p50_ms']:>9.1f}"
            f"{f['signin_p99_ms']:>9.1f}",
            f"{'raw argon2id verify, alone':<44}{f['raw_alone_p50_ms']:>9.1f}{f['raw_alone_p99_ms']:>9.1f}",
            f"{'raw argon2id verify, same concurrency':<44}{f['raw_concurrent_p50_ms']:>9.1f}"
            f"{f['raw_concurrent_p99_ms']:>9.1f}",
            f"sign-ins/s: {f['signin_per_s']:.1f}; failures: {f['failures']}; target p99 < 300 ms",
        ]
    )
