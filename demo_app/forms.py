"""Flask-WTF forms of the demo CRM.

Flask-WTF's ``CSRFProtect`` guards every POST in the app, and Flask-QBO picks
up the same token for its own buttons, so one token covers both.  Text lengths
come from :func:`flask_qbo.max_length_for`, QuickBooks' own limits for the
registered field map, so a value QuickBooks would refuse is refused here, at
its field, and never cut short.
"""

from __future__ import annotations

import typing as t

from flask_wtf import FlaskForm
from wtforms import Field
from wtforms import PasswordField
from wtforms import StringField
from wtforms import TextAreaField
from wtforms.validators import DataRequired
from wtforms.validators import Length
from wtforms.validators import Optional
from wtforms.validators import Regexp
from wtforms.validators import ValidationError

from flask_qbo import max_length_for

#: Contact attributes edited on the form, in the order they are shown.
NAME_FIELDS = ("title", "first_name", "middle_name", "last_name", "suffix", "company")
CONTACT_FIELDS = NAME_FIELDS + (
    "email",
    "phone",
    "mobile",
    "fax",
    "other_phone",
    "website",
    "billing_street",
    "billing_city",
    "billing_state",
    "billing_postal_code",
    "billing_country",
    "shipping_street",
    "shipping_city",
    "shipping_state",
    "shipping_postal_code",
    "shipping_country",
    "notes",
)


class QuickBooksLength:
    """Refuse a value longer than QuickBooks allows for the field's contact attribute, saying both lengths."""

    def __call__(self, form: FlaskForm, field: Field) -> None:
        limit = max_length_for(field.name)
        length = len((field.data or "").strip())
        if limit is not None and length > limit:
            raise ValidationError(f"QuickBooks allows at most {limit} characters here; this has {length}.")


def _text(label: str) -> StringField:
    return StringField(label, validators=[Optional(), QuickBooksLength()])


class LoginForm(FlaskForm):
    email = StringField("Email", validators=[DataRequired(), Length(max=255)])
    password = PasswordField("Password", validators=[DataRequired()])


class ContactForm(FlaskForm):
    """Every contact attribute; lengths are QuickBooks' limits so a save never fails there."""

    title = _text("Title")
    first_name = _text("First name")
    middle_name = _text("Middle name")
    last_name = _text("Last name")
    suffix = _text("Suffix")
    company = _text("Company")
    email = StringField(
        "Email",
        validators=[
            Optional(),
            QuickBooksLength(),
            Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", message="Enter a valid email address."),
        ],
    )
    phone = _text("Phone")
    mobile = _text("Mobile")
    fax = _text("Fax")
    other_phone = _text("Other phone")
    website = _text("Website")
    billing_street = _text("Street")
    billing_city = _text("City")
    billing_state = _text("State")
    billing_postal_code = _text("Postal code")
    billing_country = _text("Country")
    shipping_street = _text("Street")
    shipping_city = _text("City")
    shipping_state = _text("State")
    shipping_postal_code = _text("Postal code")
    shipping_country = _text("Country")
    notes = TextAreaField("Notes", validators=[Optional(), QuickBooksLength()])

    def validate(self, extra_validators: t.Any = None) -> bool:
        """A contact needs some name: QBO derives its unique DisplayName from it."""
        valid = super().validate(extra_validators)
        if not any((f.data or "").strip() for f in (self.first_name, self.last_name, self.company)):
            self.last_name.errors = [*self.last_name.errors, "Enter a first name, last name or company."]
            return False
        return valid

    def values(self) -> dict[str, str | None]:
        """Cleaned values, with blanks stored as NULL so "" and None never differ."""
        return {name: (self[name].data or "").strip() or None for name in CONTACT_FIELDS}
