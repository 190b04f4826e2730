"""Topic and consumer names: plain identifiers only, so no name can leave the spool directory."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from datasoc.transport import Spool, TopicNameError, UnknownTopicError, validate_name

BAD_NAMES = [
    *["", "..", "../etc", "a/b", "/abs", "a\\b", ".hidden", "a.b"],
    *["Events", "1st", "a b", "x" * 65, "ev\x00", "events\n"],
]


@pytest.mark.parametrize("name", ["events", "alerts", "deadletter", "a", "sigma_detector-2", "x" * 64])
def test_valid_names(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize("name", [*BAD_NAMES, None, 3, b"events"])
def test_invalid_names_are_rejected(name: object) -> None:
    with pytest.raises(TopicNameError) as info:
        validate_name(name)
    assert repr(name) in str(info.value)


@pytest.mark.parametrize("name", ["../escape", "a/b", ".."])
def test_spool_refuses_traversal_in_topic_and_consumer(tmp_path: Path, name: str, now: datetime) -> None:
    root = tmp_path / "spool"
    with pytest.raises(TopicNameError):
        Spool.open(root, topics=["events", name])
    with Spool.open(root) as spool:
        with pytest.raises(TopicNameError):
            spool.append(name, [b"x"], now=now)
        with pytest.raises(TopicNameError):
            spool.consumer(name, "events")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spool"]


def test_undeclared_topic_is_an_error(tmp_path: Path, now: datetime) -> None:
    message = "unknown topic 'alerts'; declared topics: events"
    with Spool.open(tmp_path, topics=["events"]) as spool, pytest.raises(UnknownTopicError, match=message):
        spool.append("alerts", [b"x"], now=now)
