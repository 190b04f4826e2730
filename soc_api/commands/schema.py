"""`datasoc schema`: print the JSON Schemas of the contracts (generated into docs/)."""

from __future__ import annotations

import json

import click


@click.command()
@click.argument("name", type=click.Choice(["event", "openapi"]))
def schema(name: str) -> None:
    """Print a contract's JSON Schema (契约的 JSON Schema); `openapi`: the API's OpenAPI document,
    from which the console's typed client is generated (`console/openapi.json`)."""
    if name == "openapi":
        from soc_api.webapi.app import openapi_document

        click.echo(json.dumps(openapi_document(), ensure_ascii=False, indent=2, sort_keys=True))
        return
    from datasoc.event import Event

    click.echo(json.dumps(Event.json_schema(), ensure_ascii=False, indent=2, sort_keys=True))
