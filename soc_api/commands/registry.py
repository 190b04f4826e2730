"""Which commands exist: the one place they are listed."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
BENCHES: list[click.Command] = []
