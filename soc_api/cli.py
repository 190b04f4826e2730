"""The `datasoc` command line: an explicit list of command groups, assembled here."""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="datasoc")
def cli() -> None:
    """datasoc: security operations and data-lifecycle audit (数据安全运营与全生命周期审计)."""


@cli.group()
def bench() -> None:
    """Benchmarks that print their figures (基准测试)."""


def _register() -> None:
    # Explicit registry: each module adds its commands to `cli` or `bench`. Imported lazily inside
    # each command, so `datasoc --help` stays fast and nothing heavy is built at import time.
    from soc_api.commands import registry

    for command in registry.COMMANDS:
        cli.add_command(command)
    commands = registry.benches()
    for command in commands:
        bench.add_command(command)
    if not commands:
        bench.help = (
            "Benchmarks (基准测试): in the source checkout (`benchmarks/`), not in an installed wheel."
        )


_register()


def main() -> None:
    """Console-script entry point."""
    cli()
