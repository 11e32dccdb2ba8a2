"""Realm ids are accepted only in Intuit's form: ASCII digits of a sane length."""

from __future__ import annotations

import pytest

from flask_qbo.intuit.ids import is_realm_id
from flask_qbo.intuit.ids import realm_id


@pytest.mark.parametrize("value", ["9130357766412345", "1", "1" * 32])
def test_ascii_digit_realms_are_accepted(value: str) -> None:
    assert is_realm_id(value)
    assert realm_id(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "９１３０３５７７６６４１２３４５",  # fullwidth digits: str.isdigit() says True
        "٩١٣٠",  # Arabic-Indic digits
        "²³",  # superscripts
        "",
        "1" * 33,
        "123 ",
        " 123",
        "12a3",
        "-123",
        "123\n",
        None,
        123,
    ],
)
def test_other_spellings_are_refused(value: object) -> None:
    assert not is_realm_id(value)
    with pytest.raises(ValueError, match="not a QuickBooks company"):
        realm_id(value)


def test_message_shortens_long_values() -> None:
    with pytest.raises(ValueError) as info:
        realm_id("x" * 500)
    assert len(str(info.value)) < 120
