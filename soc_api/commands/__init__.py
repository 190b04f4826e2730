"""CLI command modules; each exposes click commands that `soc_api.cli` registers explicitly."""
