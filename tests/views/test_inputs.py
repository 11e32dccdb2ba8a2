"""Numbers and contact keys from outside: whole and page numbers, row ids in URLs, contact keys."""

from __future__ import annotations

import pytest
from werkzeug.exceptions import BadRequest
from werkzeug.exceptions import NotFound
from werkzeug.routing import Map
from werkzeug.routing import Rule

from flask_qbo.views.inputs import ROW_ID
from flask_qbo.views.inputs import ROW_ID_MAX
from flask_qbo.views.inputs import RowIdConverter
from flask_qbo.views.inputs import contact_key
from flask_qbo.views.inputs import page_arg
from flask_qbo.views.inputs import page_number
from flask_qbo.views.inputs import whole_number

#: What ``int()`` reads as a number but a request must not: other scripts, signs, blanks, huge.
NOT_WHOLE = ["٣", "３", "²", "+3", "-3", " 3", "3 ", "3_0", "3.0", "1e3", "0x3", "", "1" + "0" * 22, "9" * 5000]


@pytest.mark.parametrize("value", NOT_WHOLE)
def test_whole_number_takes_ascii_digits_only(value: str) -> None:
    with pytest.raises(ValueError, match=r"months must be a whole number from 1 to 1200, written with the digits"):
        whole_number(value, name="months", minimum=1, maximum=1200)


def test_whole_number_range_and_message() -> None:
    assert whole_number("0042", name="n") == 42
    assert whole_number(str(2**63 - 1), name="n") == 2**63 - 1
    with pytest.raises(ValueError, match="from 1 to 1200"):
        whole_number("1201", name="months", minimum=1, maximum=1200)
    with pytest.raises(ValueError) as info:
        whole_number("9" * 5000, name="page")
    assert len(str(info.value)) < 160


def test_page_numbers() -> None:
    assert page_number(None) == page_number("") == 1
    assert page_number("7") == 7
    for value in ("0", "100001", *NOT_WHOLE[:-3]):
        with pytest.raises(ValueError, match="page must be a whole number from 1 to 100000"):
            page_number(value)
    assert page_arg({"page": "3"}) == 3 and page_arg({}) == 1
    with pytest.raises(BadRequest) as info:
        page_arg({"page": "-5"})
    assert info.value.code == 400 and "page must be a whole number" in info.value.description


def test_row_id_converter_matches_ascii_ids_in_range_only() -> None:
    urls = Map([Rule(f"/run/<{ROW_ID}:run_id>", endpoint="run")], converters={ROW_ID: RowIdConverter}).bind("crm.test")
    assert urls.match("/run/42") == ("run", {"run_id": 42})
    assert urls.match(f"/run/{ROW_ID_MAX}") == ("run", {"run_id": ROW_ID_MAX})
    for path in ("/run/٤٢", "/run/４２", f"/run/{ROW_ID_MAX + 1}", "/run/" + "1" + "0" * 22, "/run/-1", "/run/+4"):
        with pytest.raises(NotFound):
            urls.match(path)


@pytest.mark.parametrize("value, key", [("42", "42"), (42, "42"), ("0", "0"), ("-3", "-3")])
def test_integer_contact_keys_in_canonical_form(value: object, key: str) -> None:
    assert contact_key(value, integer=True) == key


@pytest.mark.parametrize(
    "value",
    ["042", "+42", " 42", "42 ", "٤٢", "４２", "42.0", "4_2", "-0", "-042", "1" + "0" * 22, "", None, True, 4.2],
)
def test_other_integer_key_spellings_are_refused(value: object) -> None:
    with pytest.raises(ValueError, match="is not a contact key: contact keys are whole numbers"):
        contact_key(value, integer=True)


def test_string_keys_are_kept_exactly_unless_unsafe() -> None:
    assert contact_key("AbC 1", integer=False) == "AbC 1"
    for value in ("", "x" * 65, "a\x00b", "a\u202eb", "a\u200bb", 42, None):
        with pytest.raises(ValueError, match="is not a contact key"):
            contact_key(value, integer=False)
