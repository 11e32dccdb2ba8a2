"""Flask-WTF forms of the demo CRM.

Flask-WTF's ``CSRFProtect`` guards every POST in the app, and Flask-QBO picks
up the same token for its own buttons, so one token covers both.
"""

from __future__ import annotations

import typing as t

from flask_wtf import FlaskForm
from wtforms import PasswordField
from wtforms import StringField
from wtforms import TextAreaField
from wtforms.validators import DataRequired
from wtforms.validators import Length
from wtforms.validators import Optional
from wtforms.validators import Regexp

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


def _text(label: str, max_length: int) -> StringField:
    return StringField(label, validators=[Optional(), Length(max=max_length)])


class LoginForm(FlaskForm):
    email = StringField("Email", validators=[DataRequired(), Length(max=255)])
    password = PasswordField("Password", validators=[DataRequired()])


class ContactForm(FlaskForm):
    """Every contact attribute; lengths follow QBO's limits so a save never fails there."""

    title = _text("Title", 16)
    first_name = _text("First name", 100)
    middle_name = _text("Middle name", 100)
    last_name = _text("Last name", 100)
    suffix = _text("Suffix", 16)
    company = _text("Company", 100)
    email = StringField(
        "Email",
        validators=[
            Optional(),
            Length(max=100),
            Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", message="Enter a valid email address."),
        ],
    )
    phone = _text("Phone", 30)
    mobile = _text("Mobile", 30)
    fax = _text("Fax", 30)
    other_phone = _text("Other phone", 30)
    website = _text("Website", 1000)
    billing_street = _text("Street", 500)
    billing_city = _text("City", 255)
    billing_state = _text("State", 255)
    billing_postal_code = _text("Postal code", 30)
    billing_country = _text("Country", 255)
    shipping_street = _text("Street", 500)
    shipping_city = _text("City", 255)
    shipping_state = _text("State", 255)
    shipping_postal_code = _text("Postal code", 30)
    shipping_country = _text("Country", 255)
    notes = TextAreaField("Notes", validators=[Optional(), Length(max=4000)])

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
