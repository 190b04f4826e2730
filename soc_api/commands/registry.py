"""Which commands exist: the one place they are listed."""

from __future__ import annotations

import click

from soc_api.commands.collect import bench_ingest, collect, ingest_token
from soc_api.commands.detect import bench_detect, detect, rules
from soc_api.commands.ledger import bench_ledger, ledger, verify
from soc_api.commands.platform import demo, run
from soc_api.commands.schema import schema
from soc_api.commands.spool import bench_spool
from soc_api.commands.store import bench_store
from soc_api.commands.stream import bench_stream, stream

COMMANDS: list[click.Command] = [
    demo,
    run,
    collect,
    ingest_token,
    detect,
    rules,
    stream,
    schema,
    ledger,
    verify,
]
BENCHES: list[click.Command] = [
    bench_spool,
    bench_store,
    bench_ledger,
    bench_ingest,
    bench_detect,
    bench_stream,
]
