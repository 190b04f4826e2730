"""`/api/v1/rules`: the detection rules with their tests and per-rule health from the engine.

Read-only: enabling or disabling a rule from the console needs a switch both engines honour
(the Flink job's rule changes and the in-process rule set), which is not built yet.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel

from soc_api.identity.actors import Actor
from soc_api.identity.errors import NotFoundError
from soc_api.identity.roles import Permission
from soc_api.webapi.app import API_PREFIX, ApiServices
from soc_api.webapi.deps import Services, require
from soc_api.webapi.rulesview import RuleInfo, RulesView

router = APIRouter(prefix=f"{API_PREFIX}/rules", tags=["rules"])


class RuleHealth(BaseModel):
    """The engine's figures for one rule since it started (None: the engine reports none)."""

    matches: int | None
    errors: int | None
    micros_per_event: float | None


class RulePublic(BaseModel):
    """A rule file as listed (规则)."""

    key: str
    ref: str
    title: str
    level: str
    status: str
    kind: str
    tags: list[str]
    fields: list[str]
    tests_positive: int
    tests_negative: int
    running: bool
    rejected: list[str]
    health: RuleHealth


class RuleDetail(RulePublic):
    """A rule with its Sigma text and its tests' text."""

    description: str
    text: str
    tests_text: str | None


class RuleList(BaseModel):
    """Every rule and the engine that runs them."""

    engine: str
    items: list[RulePublic]


def _view(services: ApiServices) -> RulesView:
    if services.rules is None:
        raise NotFoundError("this process runs no detection rules")
    return services.rules


def _public(info: RuleInfo, services: ApiServices) -> RulePublic:
    health = _view(services).health()
    figures = health.figures.get(info.ref)
    rejected = list(health.rejected.get(info.key, ()))
    per_event = None
    if figures is not None and health.evaluated:
        per_event = figures.nanos / 1000 / health.evaluated
    return RulePublic(
        key=info.key,
        ref=info.ref,
        title=info.title,
        level=info.level,
        status=info.status,
        kind=info.kind,
        tags=list(info.tags),
        fields=list(info.fields),
        tests_positive=info.positive,
        tests_negative=info.negative,
        running=not rejected,
        rejected=rejected,
        health=RuleHealth(
            matches=figures.matches if figures else None,
            errors=figures.errors if figures else None,
            micros_per_event=per_event,
        ),
    )


@router.get("", response_model=RuleList)
def list_rules(who: Annotated[Actor, require(Permission.ALERTS_READ)], services: Services) -> RuleList:
    """Every rule file (检测规则) with its tests' size and the engine's figures."""
    view = _view(services)
    return RuleList(engine=view.health().engine, items=[_public(r, services) for r in view.rules()])


@router.get("/{key:path}", response_model=RuleDetail)
def get_rule(
    key: str, who: Annotated[Actor, require(Permission.ALERTS_READ)], services: Services
) -> RuleDetail:
    """One rule with its Sigma text and tests (规则详情)."""
    for info in _view(services).rules():
        if info.key == key:
            return RuleDetail(
                **_public(info, services).model_dump(),
                description=info.description,
                text=info.text,
                tests_text=info.tests_text,
            )
    raise NotFoundError(f"no rule {key[:200]!r}")
