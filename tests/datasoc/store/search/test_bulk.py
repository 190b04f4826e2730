"""Bulk outcomes and the retry loop (a scripted `send`: what the server answers is the input here;
the real servers' answers are covered by test_search_store.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from datasoc.store import StoreUnavailableError
from datasoc.store.search.bulk import Action, RetryPolicy, chunks, classify, run_bulk


def item(status: int, kind: str = "") -> dict[str, Any]:
    result: dict[str, Any] = {"status": status}
    if kind:
        result["error"] = {"type": kind, "reason": f"{kind} happened"}
    return {"create": result}


def test_classify_sorts_each_item() -> None:
    outcome = classify(
        {
            "items": [
                item(201),
                item(409, "version_conflict_engine_exception"),
                item(429, "es_rejected_execution_exception"),
                item(400, "document_parsing_exception"),
                item(503, "unavailable_shards_exception"),
                item(404, "index_not_found_exception"),
            ]
        }
    )
    assert outcome.created == [0]
    assert outcome.conflicts == [1]
    assert [p for p, _ in outcome.retry] == [2, 4, 5]
    assert outcome.rejected == [(3, "document_parsing_exception: document_parsing_exception happened")]
    assert outcome.missing_index


def test_chunks_bound_documents_and_bytes() -> None:
    actions = [Action("i", str(n), "x" * 100) for n in range(10)]
    assert [len(g) for g in chunks(actions, max_docs=4)] == [4, 4, 2]
    assert [len(g) for g in chunks(actions, max_bytes=300)] == [2, 2, 2, 2, 2]


def ids_in(body: str) -> list[str]:
    return [json.loads(line)["create"]["_id"] for line in body.splitlines()[::2]]


def test_only_failed_items_are_retried_with_growing_back_off() -> None:
    actions = [Action("idx", f"e{n}", "{}") for n in range(4)]
    sent: list[list[str]] = []
    answers = [
        {"items": [item(201), item(429, "es_rejected_execution_exception"), item(409), item(400, "mapper")]},
        StoreUnavailableError("x", "bulk", "connection refused"),
        {"items": [item(201)]},
    ]

    def send(body: str) -> Any:
        sent.append(ids_in(body))
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    slept: list[float] = []
    result = run_bulk(
        actions,
        send,
        policy=RetryPolicy(attempts=5, base_s=0.5),
        on_missing_index=lambda: None,
        sleep=slept.append,
    )
    assert sent == [["e0", "e1", "e2", "e3"], ["e1"], ["e1"]]
    assert result.created == (0, 1)
    assert result.conflicts == (2,)
    assert [p for p, _ in result.rejected] == [3]
    assert slept == [0.5, 1.0]
    assert result.retries == 2


def test_retries_run_out_into_store_unavailable() -> None:
    def send(body: str) -> Any:
        return {"items": [item(429, "es_rejected_execution_exception")]}

    slept: list[float] = []
    with pytest.raises(StoreUnavailableError, match=r"after 3 attempts.*es_rejected_execution") as caught:
        run_bulk(
            [Action("i", "e", "{}")],
            send,
            policy=RetryPolicy(attempts=3, base_s=1, max_s=1.5),
            on_missing_index=lambda: None,
            sleep=slept.append,
        )
    assert "stay in the transport" in str(caught.value)
    assert slept == [1.0, 1.5]


def test_a_missing_index_is_created_again_before_the_retry() -> None:
    created: list[str] = []
    answers = [{"items": [item(404, "index_not_found_exception")]}, {"items": [item(201)]}]
    result = run_bulk(
        [Action("i", "e", "{}")],
        lambda body: answers.pop(0),
        policy=RetryPolicy(),
        on_missing_index=lambda: created.append("i"),
        sleep=lambda s: None,
    )
    assert created == ["i"]
    assert result.created == (0,)
