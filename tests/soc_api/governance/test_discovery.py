"""Sensitive-data discovery on generated samples with valid and invalid check digits."""

from __future__ import annotations

import json
import random
from datetime import date

import pytest
from stdnum.cn import ric

from soc_api.governance.discovery import FieldSpec, discover, kinds_of
from soc_api.governance.samples import MAKERS, bank_card, credit_code, mobile, person_name, resident_id

TODAY = date(2026, 3, 1)


@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_valid_values_are_found_and_near_misses_are_not(kind: str) -> None:
    rng = random.Random(kind)
    make = MAKERS[kind]
    valid = [make(rng, True) for _ in range(300)]
    invalid = [make(rng, False) for _ in range(300)]
    assert all(kind in kinds_of(v, TODAY) for v in valid), [
        v for v in valid if kind not in kinds_of(v, TODAY)
    ]
    assert not any(kind in kinds_of(v, TODAY) for v in invalid), [
        v for v in invalid if kind in kinds_of(v, TODAY)
    ]


def test_a_resident_number_needs_its_check_digit_and_a_real_past_birth_date() -> None:
    good = "11010120000229" + "001"
    number = good + ric.calc_check_digit(good + "0")  # born on 29 February 2000 (a leap year)
    assert kinds_of(number, TODAY) == ["resident_id"]
    wrong = number[:-1] + ("0" if number[-1] != "0" else "1")
    # (An 18-digit string may pass another kind's check by chance: only resident_id is asked about.)
    assert "resident_id" not in kinds_of(wrong, TODAY)
    no_day = "11010119990229" + "001"  # 1999 had no 29 February
    assert "resident_id" not in kinds_of(no_day + ric.calc_check_digit(no_day + "0"), TODAY)
    future = "11010120300101" + "001"
    later = future + ric.calc_check_digit(future + "0")
    assert "resident_id" not in kinds_of(later, TODAY)  # born after today
    assert "resident_id" in kinds_of(later)  # without a date to compare with


def test_discovery_names_fields_counts_and_positions_never_values() -> None:
    rng = random.Random(7)
    rows = []
    for n in range(40):
        rows.append(
            {
                "xm": person_name(rng),
                "sfzh": resident_id(rng, valid=n % 10 != 3),  # one in ten mistyped
                "sjhm": mobile(rng),
                "yhk": bank_card(rng) if n % 2 else "",
                "dwdm": credit_code(rng),
                "bz": "无",
            }
        )
    found = discover([FieldSpec(name) for name in rows[0]], rows, today=TODAY)
    by_field = {f.field: f for f in found.findings}
    assert set(by_field) == {"sfzh", "sjhm", "yhk", "dwdm"}
    assert (by_field["sfzh"].kind, by_field["sfzh"].hits, by_field["sfzh"].checked) == ("resident_id", 36, 40)
    assert by_field["sfzh"].positions == (0, 1, 2, 4, 5, 6, 7, 8, 9, 10)  # row 3 was mistyped
    assert (by_field["yhk"].hits, by_field["yhk"].checked) == (20, 20)  # empty values are not checked
    assert (found.grade, found.sub_grade) == ("important", None)
    assert found.field_grades["dwdm"] == ("general", 1)
    evidence = json.dumps(found.to_dict(), ensure_ascii=False)
    for row in rows:
        for value in row.values():
            if len(value) > 4:
                assert value not in evidence


def test_a_field_mostly_of_other_values_is_not_found() -> None:
    rng = random.Random(3)
    rows = [{"note": mobile(rng) if n < 4 else "see attachment"} for n in range(10)]
    assert discover([FieldSpec("note")], rows, today=TODAY).findings == ()


def test_without_samples_the_field_names_give_a_weaker_finding() -> None:
    found = discover([FieldSpec("sfzh"), FieldSpec("lxdh"), FieldSpec("jgmc")])
    assert [(f.field, f.kind, f.by) for f in found.findings] == [
        ("sfzh", "resident_id", "name"),
        ("lxdh", "mobile", "name"),
    ]
    assert found.grade == "important"
    assert discover([FieldSpec("jgmc")]).grade == "general"
