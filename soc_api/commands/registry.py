"""Which commands exist: the one place they are listed."""

from __future__ import annotations

import click

from soc_api.commands.schema import schema

COMMANDS: list[click.Command] = [schema]
BENCHES: list[click.Command] = []
