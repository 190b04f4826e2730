"""`datasoc bench discovery` in miniature: check digits beat the format alone on the same values."""

from __future__ import annotations

from click.testing import CliRunner

from benchmarks.discovery import corpus, score
from soc_api.cli import cli


def test_discovery_finds_every_valid_value_and_refuses_near_misses_the_format_takes() -> None:
    scores = {(s.kind, s.detector): s for s in score(corpus(200, seed=5))}
    for kind in ("resident_id", "bank_card", "credit_code", "mobile", "passport", "email", "address"):
        ours, theirs = scores[(kind, "discovery")], scores[(kind, "regex only")]
        assert ours.recall == 1.0
        assert ours.precision >= theirs.precision
        assert ours.precision > 0.9, (kind, ours)
    for kind in ("resident_id", "bank_card", "credit_code"):  # a wrong check digit fools the format only
        assert scores[(kind, "regex only")].precision <= 0.5


def test_the_command_prints_a_row_per_kind_and_detector() -> None:
    result = CliRunner().invoke(cli, ["bench", "discovery", "--count", "20"])
    assert result.exit_code == 0, result.output
    assert result.output.count("discovery  ") >= 7
    assert "regex only" in result.output
