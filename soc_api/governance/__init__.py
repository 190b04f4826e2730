"""Data governance (数据治理): the asset catalog with grades, discovery, approval policies, access
requests and grants, and the review of what happened.

Pure cores (no I/O): `policy` (composable approval policies), `discovery` (sensitive-data
recognition), `samples` (generated values for tests, the benchmark and the demo). Over the state
store: `store` (SQL), and the services `catalog`, `access` (requests, decisions, grants), assembled by
`Governance.build`; `enrichment` gives the parsers the current catalog and grants.
"""
