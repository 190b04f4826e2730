"""Alerting and response: 预警 → 通报 → 处置 → 闭环.

Pure cores: `levels` (warning levels, GB/T 20986-2023 classes and grades), `facts` (what an alert
is: group key, grade, observables), `suppression`, `lifecycle`, `sla`, `routing`, `notices` and
`cef` (what notifications say and how). Over the state store: `store` (SQL), `intake` (the
`alerts` topic in, exactly once), `outbox` and `delivery` (the transactional outbox and its
sender), `transitions`, `service` (people's actions, audited), `cases`, `bulletins`. Channels
are an explicit registry in `channels`; local receivers for tests and the demo in `receivers`.
"""

from soc_api.alerting.schema import MIGRATIONS

__all__ = ["MIGRATIONS"]
