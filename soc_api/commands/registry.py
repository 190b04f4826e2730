"""Which commands exist: the one place they are listed."""

from __future__ import annotations

import click

from soc_api.commands.access import access, grants, trail
from soc_api.commands.alerting import alerts, cases
from soc_api.commands.catalog import catalog
from soc_api.commands.collect import collect, ingest_token
from soc_api.commands.detect import detect, rules
from soc_api.commands.hunt import hunt
from soc_api.commands.identity import tokens, users
from soc_api.commands.ledger import ledger, verify
from soc_api.commands.platform import demo, run
from soc_api.commands.schema import schema
from soc_api.commands.stream import stream

COMMANDS: list[click.Command] = [
    demo,
    run,
    collect,
    ingest_token,
    detect,
    rules,
    hunt,
    stream,
    schema,
    ledger,
    verify,
    users,
    tokens,
    catalog,
    access,
    grants,
    trail,
    alerts,
    cases,
]


def benches() -> list[click.Command]:
    """The `datasoc bench` commands: they live in `benchmarks/` of a source checkout (not the wheel)."""
    import importlib.util

    if importlib.util.find_spec("benchmarks") is None:
        return []
    from benchmarks.commands import BENCHES

    return list(BENCHES)
