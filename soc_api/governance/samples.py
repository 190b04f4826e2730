"""Generated sensitive-looking values, valid and deliberately invalid, for discovery's tests, its
benchmark (`datasoc bench discovery`) and the demo's sample records. Pure: a seeded `random.Random`
drives every choice; nothing real is ever produced (the resident numbers' regions are real county
codes, everything else is drawn at random).

Each maker returns `(value, valid)`. Invalid values are the near misses discovery must refuse: a wrong
check digit or character, an impossible birth date (with a check digit computed over it, so only the
date is wrong), a landline or a number too short.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from datetime import date, timedelta
from typing import Final

from stdnum import luhn
from stdnum.cn import ric, uscc

#: County codes stdnum's register knows (so a valid number passes its birth-place check too).
COUNTIES: Final = ("110101", "330106", "440305", "320102", "510104", "420102", "370102")
_USCC_ALPHABET: Final = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_STREETS: Final = ("中山路", "解放大道", "人民街", "建设巷", "和平里", "新华路")
_CITIES: Final = (
    ("浙江省", "杭州市", "西湖区"),
    ("江苏省", "南京市", "玄武区"),
    ("湖北省", "武汉市", "江岸区"),
)
_SURNAMES: Final = "王李张刘陈杨黄赵吴周"
Maker = Callable[[random.Random, bool], str]


def _other_digit(rng: random.Random, digit: str, alphabet: str = string.digits) -> str:
    return rng.choice([c for c in alphabet if c != digit])


def resident_id(rng: random.Random, valid: bool = True) -> str:
    """An 18-digit resident identity number (GB 11643): county, birth date, order, check digit."""
    # Born 1990 to 2008: every county listed existed then (stdnum checks the county against the year).
    born = date(1990, 1, 1) + timedelta(days=rng.randrange(365 * 18))
    body = f"{rng.choice(COUNTIES)}{born:%Y%m%d}{rng.randrange(1000):03d}"
    check = ric.calc_check_digit(body + "0")
    if valid:
        return body + check
    if rng.random() < 0.5:  # a typo in the check digit
        return body + _other_digit(rng, check, string.digits + "X")
    # An impossible date with a correct check digit: only the date gives it away.
    month, day = rng.choice([("13", "01"), ("02", "30"), ("00", "10"), ("04", "31")])
    body = body[:10] + month + day + body[14:]
    return body + ric.calc_check_digit(body + "0")


def bank_card(rng: random.Random, valid: bool = True) -> str:
    """A UnionPay card number (62..., 16 or 19 digits) with a Luhn check digit (or a wrong one)."""
    body = "62" + "".join(rng.choice(string.digits) for _ in range(rng.choice((13, 16))))
    check = luhn.calc_check_digit(body)
    return body + (check if valid else _other_digit(rng, check))


def credit_code(rng: random.Random, valid: bool = True) -> str:
    """A unified social credit code (GB 32100): 18 characters with a check character (or a wrong one)."""
    body = "91" + rng.choice(COUNTIES) + "".join(rng.choice(_USCC_ALPHABET) for _ in range(9))
    check = uscc.calc_check_digit(body)
    return body + (check if valid else _other_digit(rng, check, _USCC_ALPHABET))


def mobile(rng: random.Random, valid: bool = True) -> str:
    """A mainland mobile number (1[3-9] and nine digits); invalid: a landline, a short number, or 12…."""
    if valid:
        return f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"
    return rng.choice(
        (
            f"0571-{rng.randrange(10**8):08d}",  # a landline
            f"1{rng.choice('3456789')}{rng.randrange(10**8):08d}",  # a digit short
            f"12{rng.randrange(10**9):09d}",  # no network uses 12
        )
    )


def passport(rng: random.Random, valid: bool = True) -> str:
    """An ordinary passport number (E and eight digits); invalid: a letter and seven digits."""
    if valid:
        return "E" + f"{rng.randrange(10**8):08d}"
    return rng.choice("ABCDK") + f"{rng.randrange(10**7):07d}"


def email(rng: random.Random, valid: bool = True) -> str:
    """An e-mail address; invalid: one without a domain."""
    user = "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(4, 9)))
    return f"{user}@example.{rng.choice(('com', 'cn', 'org'))}" if valid else f"{user}@localhost"


def address(rng: random.Random, valid: bool = True) -> str:
    """A street address; invalid: a place name without a street or number."""
    province, city, district = rng.choice(_CITIES)
    if valid:
        return f"{province}{city}{district}{rng.choice(_STREETS)}{rng.randint(1, 999)}号"
    return rng.choice((f"{city}政务服务中心", f"{district}"))


def person_name(rng: random.Random) -> str:
    """A two- or three-character name (not personal data on its own here)."""
    return rng.choice(_SURNAMES) + "".join(
        rng.choice("伟芳娜敏静丽强磊军洋") for _ in range(rng.randint(1, 2))
    )


#: Kind -> maker, for the benchmark and the tests.
MAKERS: Final[dict[str, Maker]] = {
    "resident_id": resident_id,
    "bank_card": bank_card,
    "credit_code": credit_code,
    "mobile": mobile,
    "passport": passport,
    "email": email,
    "address": address,
}
