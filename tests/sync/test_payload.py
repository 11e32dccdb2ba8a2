"""sync/payload.py: values, hashes, payloads, DisplayName rules and pre-flight checks."""

from __future__ import annotations

import types

import pytest

from flask_qbo import Field
from flask_qbo import join_name
from flask_qbo import split_name
from flask_qbo.errors import QBOConfigError
from flask_qbo.errors import QBOValidationError
from flask_qbo.fieldmap import FieldMap
from flask_qbo.sync.payload import apply_values
from flask_qbo.sync.payload import build_create_payload
from flask_qbo.sync.payload import build_update_payload
from flask_qbo.sync.payload import contact_values
from flask_qbo.sync.payload import customer_hash
from flask_qbo.sync.payload import display_name
from flask_qbo.sync.payload import get_path
from flask_qbo.sync.payload import is_our_name
from flask_qbo.sync.payload import next_display_name
from flask_qbo.sync.payload import qbo_changes
from flask_qbo.sync.payload import qbo_values
from flask_qbo.sync.payload import renamed
from flask_qbo.sync.payload import strip_deleted
from flask_qbo.sync.payload import sync_state
from flask_qbo.sync.payload import unique_display_name
from flask_qbo.sync.preflight import validate_values

FIELDS = FieldMap.default()


def contact(**kw: object) -> types.SimpleNamespace:
    base = {attr: None for attr in FIELDS.attrs}
    base["archived"] = False
    base.update(kw)
    return types.SimpleNamespace(**base)


def test_contact_values_normalise_and_invert_archived() -> None:
    values = contact_values(contact(first_name="  Ann ", last_name="", email="a@b.co", archived=True), FIELDS)
    assert values["GivenName"] == "Ann"
    assert values["FamilyName"] is None
    assert values["Active"] is False
    assert values["PrimaryEmailAddr.Address"] == "a@b.co"


def test_hash_equal_across_sides_and_ignores_blank() -> None:
    c = contact(first_name="Ann", email="a@b.co", phone="")
    qbo = {"GivenName": "Ann ", "PrimaryEmailAddr": {"Address": "a@b.co"}, "Active": True}
    assert customer_hash(contact_values(c, FIELDS)) == customer_hash(qbo_values(qbo, FIELDS))
    c.phone = "555"
    assert customer_hash(contact_values(c, FIELDS)) != customer_hash(qbo_values(qbo, FIELDS))


#: Characters that hide or reorder text: C0 controls, DEL, C1 controls, bidi overrides,
#: embeddings, isolates and marks, zero-width space, word joiner, byte-order mark.
INVISIBLE = [
    "\x00",
    "\x07",
    "\x1b",
    "\x7f",
    "\x85",
    "\x9b",
    "\u202a",
    "\u202e",
    "\u2066",
    "\u2069",
    "\u200e",
    "\u200f",
    "\u061c",
    "\u200b",
    "\u2060",
    "\ufeff",
]


@pytest.mark.parametrize("char", INVISIBLE, ids=[f"U+{ord(c):04X}" for c in INVISIBLE])
def test_control_and_bidi_characters_never_reach_the_payload(char: str) -> None:
    c = contact(
        first_name=f"A{char}nn",
        last_name="Lee",
        email=f"ann{char}@example.com",
        notes=f"line one{char}\nline two",
        billing_city=f"{char}Oslo",
    )
    values = contact_values(c, FIELDS)
    assert (values["GivenName"], values["PrimaryEmailAddr.Address"]) == ("Ann", "ann@example.com")
    assert (values["Notes"], values["BillAddr.City"]) == ("line one\nline two", "Oslo")
    payload = build_create_payload(values, FIELDS, display_name(values))
    assert payload["DisplayName"] == "Ann Lee" and char not in repr(payload)
    # The same contact without the characters hashes alike: stripping them is never a change.
    clean = contact(
        first_name="Ann", last_name="Lee", email="ann@example.com", notes="line one\nline two", billing_city="Oslo"
    )
    assert customer_hash(values) == customer_hash(contact_values(clean, FIELDS))


def test_no_character_the_cleaning_removes_counts_as_printable() -> None:
    """``strip_invisible`` returns printable text as it is, without its regex: every code point the
    regex removes must be one :meth:`str.isprintable` refuses, in this Python's Unicode tables."""
    from flask_qbo.sync.text import _INVISIBLE

    slipped = [f"U+{cp:04X}" for cp in range(0x110000) if chr(cp).isprintable() and _INVISIBLE.match(chr(cp))]
    assert slipped == []


def test_tabs_and_line_breaks_are_kept_only_in_multiline_fields() -> None:
    values = contact_values(
        contact(
            first_name="Ann\tMarie",
            last_name="Lee\r\n",
            company="Acme\r\nWest",
            phone="555\t0100",
            notes="Dear Ann,\r\n\tthanks.\rBye",
            billing_street="1 Road\nUnit 4",
            shipping_street="2 Lane\r\nBack",
        ),
        FIELDS,
    )
    assert values["GivenName"] == "Ann Marie"  # QBO refuses tab and line breaks in names
    assert values["FamilyName"] == "Lee"
    assert (values["CompanyName"], values["PrimaryPhone.FreeFormNumber"]) == ("Acme West", "555 0100")
    assert values["Notes"] == "Dear Ann,\n\tthanks.\nBye"  # one line-break form: QBO's
    assert (values["BillAddr.Line1"], values["ShipAddr.Line1"]) == ("1 Road\nUnit 4", "2 Lane\nBack")
    assert _refused(values) is None


def test_joiners_that_scripts_and_emoji_need_are_kept() -> None:
    persian, emoji = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0645", "Ann \U0001f469\u200d\U0001f4bb"
    values = contact_values(contact(first_name=persian, company=emoji), FIELDS)
    assert (values["GivenName"], values["CompanyName"]) == (persian, emoji)


def test_pulled_values_are_cleaned_the_same_way() -> None:
    """QBO data is untrusted: a pulled value never brings a control or bidi character into the CRM."""
    data = {
        "GivenName": "\u202eAnn",
        "FamilyName": "Lee\x00",
        "Notes": "a\r\nb\x07",
        "Active": True,
        "PrimaryPhone": {"FreeFormNumber": "555\n0100"},
    }
    values = qbo_values(data, FIELDS)
    assert (values["GivenName"], values["FamilyName"]) == ("Ann", "Lee")
    assert (values["Notes"], values["PrimaryPhone.FreeFormNumber"]) == ("a\nb", "555 0100")
    c = contact(first_name="Ann", last_name="Lee", notes="a\nb", phone="555 0100")
    assert customer_hash(values) == customer_hash(contact_values(c, FIELDS))
    fresh = contact()
    apply_values(fresh, values, FIELDS)
    assert (fresh.first_name, fresh.last_name, fresh.notes) == ("Ann", "Lee", "a\nb")


def test_get_path_reads_through_any_mapping_and_stops_at_anything_else() -> None:
    """A missing or non-object step reads as absent; a read-only mapping is walked like a dict."""
    data = {"BillAddr": types.MappingProxyType({"City": "Oslo"}), "Notes": "text", "PrimaryPhone": None}
    assert get_path(data, "BillAddr.City") == "Oslo"
    assert get_path(data, "PrimaryPhone.FreeFormNumber") is None
    assert get_path(data, "Notes.Line1") is None
    assert get_path(data, "Mobile.FreeFormNumber") is None


def test_create_payload_nests_and_skips_empty() -> None:
    payload = build_create_payload(
        contact_values(contact(first_name="Ann", billing_city="Oslo"), FIELDS), FIELDS, "Ann"
    )
    assert payload == {"GivenName": "Ann", "BillAddr": {"City": "Oslo"}, "Active": True, "DisplayName": "Ann"}


def test_sparse_update_sends_only_changes_and_keeps_address_siblings() -> None:
    base = contact_values(contact(first_name="Ann", billing_city="Oslo", billing_street="1 Road"), FIELDS)
    current = {"BillAddr": {"Id": "9", "Line1": "1 Road", "Line2": "Unit 4", "City": "Oslo"}}
    new = dict(base, **{"BillAddr.City": "Bergen"})
    payload = build_update_payload(new, FIELDS, qbo_id="5", sync_token="3", base=base, current=current)
    assert payload == {
        "Id": "5",
        "SyncToken": "3",
        "sparse": True,
        "BillAddr": {"Line1": "1 Road", "Line2": "Unit 4", "City": "Bergen"},
    }
    assert build_update_payload(base, FIELDS, qbo_id="5", sync_token="3", base=base) is None


def test_sparse_update_clears_with_empty_string() -> None:
    base = contact_values(contact(notes="old"), FIELDS)
    payload = build_update_payload(dict(base, Notes=None), FIELDS, qbo_id="5", sync_token="0", base=base)
    assert payload is not None and payload["Notes"] == ""


def test_display_name_rules() -> None:
    assert display_name({"GivenName": "Ann", "FamilyName": "Lee", "CompanyName": "X"}) == "Ann Lee"
    assert display_name({"CompanyName": "Acme: West"}) == "Acme West"
    assert display_name({"PrimaryEmailAddr.Address": "a@b.co"}) == "a@b.co"
    assert next_display_name("Ann") == "Ann (2)"
    assert next_display_name("Ann (2)") == "Ann (3)"
    taken = {"ann", "ann (2)"}
    assert unique_display_name("Ann", lambda n: n.lower() in taken) == "Ann (3)"
    assert strip_deleted("Ann (deleted)") == "Ann"


@pytest.mark.parametrize(
    ("values", "element", "words"),
    [
        ({"GivenName": "A:B"}, "GivenName", "colon"),
        ({"FamilyName": "A\tB"}, "FamilyName", "colon"),
        ({"Title": "x" * 17}, "Title", "at most 16"),
        ({"PrimaryEmailAddr.Address": "not-an-email"}, "PrimaryEmailAddr.Address", "not a valid email"),
    ],
)
def test_preflight_validation_names_the_field(values: dict, element: str, words: str) -> None:
    with pytest.raises(QBOValidationError) as info:
        validate_values(values, FIELDS)
    assert info.value.element == element
    assert words in str(info.value)
    attr = FIELDS.by_path(element).attr
    assert str(info.value).startswith(f"[preflight] {attr}:")


def _refused(values: dict) -> str | None:
    """The QBO path pre-flight refuses in ``values``; ``None`` when it accepts them all."""
    try:
        validate_values(values, FIELDS)
    except QBOValidationError as exc:
        return exc.element
    return None


@pytest.mark.parametrize(
    ("path", "accepted", "refused"),
    [
        ("Title", "x" * 16, "x" * 17),
        ("Notes", "n" * 2000, "n" * 2001),
        ("CompanyName", "Acme: West", "c" * 101),  # a colon is refused in names only
        ("GivenName", "Ann-Marie", "Ann:Marie"),
        ("PrimaryEmailAddr.Address", "ann+crm@mail.example.co.uk", "ann@localhost"),
    ],
    ids=["length-title", "length-notes", "colon-company", "colon-name", "email"],
)
def test_preflight_accepts_up_to_the_rule_and_refuses_past_it(path: str, accepted: str, refused: str) -> None:
    assert _refused({path: accepted}) is None
    assert _refused({path: refused}) == path


def test_apply_values_only_pulls_and_converts() -> None:
    c = contact(first_name="Ann")
    changed = apply_values(c, {"GivenName": "Anna", "Active": False}, FIELDS)
    assert c.first_name == "Anna" and c.archived is True
    assert set(changed) == {"first_name", "archived"}


ONE_NAME = FieldMap(
    Field("name", "DisplayName"),
    Field("name", ("GivenName", "FamilyName"), to_qbo=split_name, from_qbo=join_name),
)


def test_one_name_feeds_display_name_and_both_name_parts() -> None:
    values = contact_values(types.SimpleNamespace(name=" Ann  Marie Lee "), ONE_NAME)
    assert values == {"DisplayName": "Ann Marie Lee", "GivenName": "Ann Marie", "FamilyName": "Lee"}
    assert display_name(values) == "Ann Marie Lee"
    qbo = {"DisplayName": "Ann Marie Lee (2)", "GivenName": "Ann Marie", "FamilyName": "Lee"}
    assert qbo_values(qbo, ONE_NAME) == {**values, "DisplayName": "Ann Marie Lee (2)"}  # QBO's name, kept whole
    assert qbo_changes(qbo_values(qbo, ONE_NAME), sync_state(qbo_values(qbo, ONE_NAME), values)) == []


def test_pulled_name_parts_join_and_the_first_field_per_attribute_wins() -> None:
    person = types.SimpleNamespace(name="Ann Lee")
    assert apply_values(person, {"GivenName": "Anna"}, ONE_NAME) == ["name"]  # FamilyName kept from the contact
    assert person.name == "Anna Lee"
    both = {"DisplayName": "Dr Anna Lee", "GivenName": "Annie", "FamilyName": "Lee"}
    assert apply_values(person, both, ONE_NAME) == ["name"] and person.name == "Dr Anna Lee"


def test_a_getter_and_setter_field_reads_and_writes_through_them() -> None:
    person = types.SimpleNamespace(first="Ann", last="Lee")

    def set_both(p: types.SimpleNamespace, value: str) -> None:
        p.first, p.last = split_name(value)

    fields = FieldMap(Field(path="DisplayName", get=lambda p: f"{p.first} {p.last}", set=set_both, watches=("first",)))
    assert contact_values(person, fields) == {"DisplayName": "Ann Lee"}
    assert apply_values(person, {"DisplayName": "Bo Chen"}, fields) == ["(computed DisplayName from first)"]
    assert (person.first, person.last) == ("Bo", "Chen")
    suffixed = qbo_values({"DisplayName": "Bo Chen (3)"}, fields)
    assert qbo_changes(suffixed, sync_state(suffixed, contact_values(person, fields))) == []  # our suffix: no change


def test_to_qbo_must_give_one_value_per_path() -> None:
    fields = FieldMap(Field("name", ("GivenName", "FamilyName"), to_qbo=lambda v: (v,), from_qbo=join_name))
    with pytest.raises(QBOConfigError, match="2 values"):
        contact_values(types.SimpleNamespace(name="Ann"), fields)


def test_only_the_suffix_added_to_the_contacts_name_is_ours() -> None:
    pushed = sync_state({"DisplayName": "Ann Lee (2)"}, {"DisplayName": "Ann Lee"})  # QBO needed the suffix
    assert is_our_name("Ann Lee (2)", "Ann Lee", pushed) and is_our_name("Ann Lee (2) (deleted)", "Ann Lee", pushed)
    assert not is_our_name("Ann Lee (2)", "Ann Lee", None) and not is_our_name("Ann Lee (3)", "Ann Lee", pushed)
    trust = sync_state({"DisplayName": "Smith Family Trust (2019)"}, {"DisplayName": "Smith Family Trust (2019)"})
    assert not is_our_name("Smith Family Trust (2019)", "Smith Family Trust", trust)  # the CRM's own number
    assert is_our_name("Smith Family Trust (2019)", "Smith Family Trust (2019)", trust)
    assert not is_our_name("ann lee", "Ann Lee", pushed) and not is_our_name(None, "A", pushed)
    legacy = {"DisplayName": "Ann Lee"}  # stored before both sides were kept: compared without suffixes
    assert is_our_name("Ann Lee (2)", "Ann Lee", legacy) and qbo_changes({"DisplayName": "Ann Lee (2)"}, legacy) == []


def test_a_collision_suffix_is_added_to_the_name_not_to_its_own_number() -> None:
    assert next_display_name("Trust (2019)", "Trust (2019)") == "Trust (2019) (2)"
    assert next_display_name("Trust (2019) (2)", "Trust (2019)") == "Trust (2019) (3)"
    assert unique_display_name("Trust (2019)", lambda n: n == "Trust (2019)") == "Trust (2019) (2)"


def test_renamed_follows_the_contact_but_not_a_name_given_in_qbo() -> None:
    base = {"GivenName": "Ann", "FamilyName": "Lee"}
    now = {"GivenName": "Ann", "FamilyName": "Lee-Smith"}
    assert renamed(now, base, {"DisplayName": "Ann Lee"}) == "Ann Lee-Smith"
    pushed = sync_state({"DisplayName": "Ann Lee-Smith (2)"}, now)
    assert renamed(now, pushed, {"DisplayName": "Ann Lee-Smith (2)"}) is None  # QBO already has it
    assert renamed(now, base, {"DisplayName": "ann lee-smith"}) == "Ann Lee-Smith"  # a case-only rename is one
    assert renamed(base, base, {"DisplayName": "Lee, Ann"}) is None  # the contact's name did not change
    assert renamed(now, None, {"DisplayName": "Lee, Ann"}) == "Ann Lee-Smith"
