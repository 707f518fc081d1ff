"""emulator/core/numbers.py: decimal integers in a client's text, bounded, never int()'s errors."""

from __future__ import annotations

import pytest

from emulator.core.numbers import decimal, quoted, shown


@pytest.mark.parametrize(("text", "signed", "value"), [
    ("0", False, 0),
    ("007", False, 7),
    ("100", False, 100),
    ("101", False, 101),  # limit + 1 is itself
    ("102", False, 101),
    ("9" * 4301, False, 101),  # past Python's 4300-digit int() limit
    ("0" * 5000 + "42", False, 42),  # leading zeros do not count
    ("0" * 5000, False, 0),
    ("+5", True, 5),
    ("-5", True, -5),
    ("-" + "9" * 4301, True, -101),
    ("-0", True, 0),
])
def test_decimals_read_as_their_number_up_to_one_past_the_limit(text, signed, value):
    assert decimal(text, limit=100, signed=signed) == value


@pytest.mark.parametrize(("text", "signed"), [
    ("", False), ("+5", False), ("-5", False), (" 5", False), ("5 ", False), ("5\n", False), ("1_000", False),
    ("1.5", False), ("0x10", False), ("\u00b2", False), ("\u0661", False), ("\uff15", False),
    ("--1", True), ("+-1", True), ("-+5", True), ("+", True), ("-", True), ("5-", True),
])
def test_anything_else_is_none(text, signed):
    assert decimal(text, limit=100, signed=signed) is None


def test_the_limit_may_be_zero_but_not_negative():
    assert decimal("0", limit=0) == 0 and decimal("3", limit=0) == 1
    with pytest.raises(ValueError):
        decimal("1", limit=-1)


def test_quoted_cuts_long_text():
    assert quoted("abc") == "'abc'"
    assert quoted("9" * 4301) == repr("9" * 40) + "... (4301 characters)"


def test_shown_is_the_number_unless_it_stands_in_for_a_larger_one():
    assert shown(100, "100", 100) == "100" and shown(-7, "-7", 100) == "-7"
    assert shown(101, "9" * 4301, 100) == quoted("9" * 4301)
    assert shown(-101, "-" + "9" * 50, 100) == quoted("-" + "9" * 50)
    assert shown(101, None, 100) == "101"
