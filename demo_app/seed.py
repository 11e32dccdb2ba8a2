"""Demo data: two accounts, an admin, a salesperson and a plain user each, and about 25 contacts per account.

A few Acme contacts share their email with customers of the emulator's demo
company, so the initial import has real matches to review; the rest exist only
in the CRM and are created in QuickBooks when the import or a later edit pushes
them.  The data is fixed (no randomness) so screenshots and tests are stable.

The contacts stand for what the CRM held before QuickBooks was connected, so
they are written with Flask-QBO's capture suppressed: nothing is queued for
QuickBooks until the admin runs the import or someone edits a contact.
"""

from __future__ import annotations

import typing as t

from .integration import qbo
from .models import Account
from .models import Contact
from .models import User
from .models import db
from .settings import DEMO_PASSWORD

ACCOUNTS = ("Acme Landscaping", "Globex Supplies")

#: (account, email, name, role) of the demo logins; every password is DEMO_PASSWORD.
LOGINS = (
    ("Acme Landscaping", "admin@acme.test", "Alice Admin", "admin"),
    ("Acme Landscaping", "sales@acme.test", "Sam Sales", "sales"),
    ("Acme Landscaping", "user@acme.test", "Ulysses User", "user"),
    ("Globex Supplies", "admin@globex.test", "Grace Admin", "admin"),
    ("Globex Supplies", "sales@globex.test", "Sid Sales", "sales"),
    ("Globex Supplies", "user@globex.test", "Gus User", "user"),
)

#: (first, last, company, city, state, postal code) of each account's own contacts.
_ACME_PEOPLE = (
    ("Mia", "Hartley", "Hartley Orchards", "Fresno", "CA", "93701"),
    ("Noah", "Brandt", "", "Eugene", "OR", "97401"),
    ("Olivia", "Crane", "Crane & Sons Builders", "Tacoma", "WA", "98402"),
    ("Liam", "Duarte", "", "Tucson", "AZ", "85701"),
    ("Ava", "Ellison", "Ellison Event Venues", "Santa Fe", "NM", "87501"),
    ("Ethan", "Fischer", "Fischer Tree Care", "Spokane", "WA", "99201"),
    ("Sofia", "Grant", "", "Salem", "OR", "97301"),
    ("Lucas", "Hughes", "Hughes Property Management", "San Jose", "CA", "95113"),
    ("Isla", "Ibarra", "", "Las Vegas", "NV", "89101"),
    ("Mason", "Jensen", "Jensen Dairy", "Logan", "UT", "84321"),
    ("Chloe", "Kaplan", "Kaplan Dental Studio", "Oakland", "CA", "94612"),
    ("Leo", "Larsen", "", "Bend", "OR", "97701"),
    ("Zara", "Mendez", "Mendez Realty Group", "Albuquerque", "NM", "87102"),
    ("Owen", "Nakamura", "", "Honolulu", "HI", "96813"),
    ("Ruby", "Ortega", "Ortega Family Vineyards", "Napa", "CA", "94559"),
    ("Felix", "Patel", "Patel Pharmacy", "Irvine", "CA", "92614"),
    ("Hazel", "Quinn", "", "Missoula", "MT", "59801"),
    ("Jack", "Reyes", "Reyes Auto Body", "El Paso", "TX", "79901"),
    ("Ivy", "Sato", "", "Anchorage", "AK", "99501"),
)
_GLOBEX_PEOPLE = (
    ("Arthur", "Bellamy", "Bellamy Machine Works", "Dayton", "OH", "45402"),
    ("Beatrice", "Cole", "", "Lansing", "MI", "48933"),
    ("Conrad", "Dietrich", "Dietrich Fasteners", "Milwaukee", "WI", "53202"),
    ("Delia", "Engel", "Engel Office Supply", "Des Moines", "IA", "50309"),
    ("Edgar", "Fontaine", "", "Omaha", "NE", "68102"),
    ("Fiona", "Gallagher", "Gallagher Print Shop", "Toledo", "OH", "43604"),
    ("Gideon", "Holt", "Holt Industrial Cleaning", "Peoria", "IL", "61602"),
    ("Harriet", "Ives", "", "Fargo", "ND", "58102"),
    ("Ian", "Jovanovic", "Jovanovic Packaging", "Gary", "IN", "46402"),
    ("Judith", "Keller", "Keller Lab Equipment", "Rochester", "MN", "55902"),
    ("Kurt", "Lindgren", "", "Duluth", "MN", "55802"),
    ("Lorna", "Moss", "Moss Janitorial", "Springfield", "IL", "62701"),
    ("Milo", "Nash", "Nash Electrical", "Akron", "OH", "44308"),
    ("Nora", "Oakley", "", "Sioux Falls", "SD", "57104"),
    ("Otto", "Price", "Price Restaurant Supply", "Chicago", "IL", "60607"),
    ("Paula", "Quist", "Quist Safety Gear", "Madison", "WI", "53703"),
    ("Rex", "Sandoval", "", "Wichita", "KS", "67202"),
    ("Selma", "Trent", "Trent Hardware Wholesale", "Topeka", "KS", "66603"),
    ("Victor", "Wu", "", "Columbus", "OH", "43215"),
)


def demo_customer_emails() -> list[str]:
    """Emails of emulator demo customers that Acme should already know (for import matches)."""
    from flask_qbo.emulator.seed import DEMO_CUSTOMER_EMAILS

    return list(DEMO_CUSTOMER_EMAILS)


def _names_from_email(email: str) -> tuple[str, str]:
    """ "amelia.abernathy@..." -> ("Amelia", "Abernathy"): how the CRM knew them before QBO."""
    local = email.split("@", 1)[0]
    first, _, last = local.partition(".")
    return first.replace("-", " ").title(), last.replace("-", " ").title()


def _contacts_for(
    account: Account, domain: str, people: t.Sequence[tuple[str, ...]], matching: t.Sequence[str]
) -> list[Contact]:
    """The account's contacts: ``matching`` emails first, then ``people``; the last one is archived."""
    contacts = []
    for email in matching:
        first, last = _names_from_email(email)
        contacts.append(
            Contact(
                account_id=account.id,
                first_name=first,
                last_name=last,
                email=email,
                notes="Known to us before QuickBooks was connected.",
            )
        )
    for index, (first, last, company, city, state, postal) in enumerate(people):
        slug = (company or f"{first}{last}").lower().replace(" & ", "-").replace(" ", "-")
        contacts.append(
            Contact(
                account_id=account.id,
                first_name=first,
                last_name=last,
                company=company or None,
                email=f"{first.lower()}@{slug}.{domain}.example.org",
                phone=f"(555) {200 + index:03d}-{4000 + index * 37:04d}",
                website=f"https://{slug}.example.org" if company else None,
                billing_street=f"{100 + index * 11} {('Main', 'Oak', 'Pine', 'Lake')[index % 4]} St",
                billing_city=city,
                billing_state=state,
                billing_postal_code=postal,
                billing_country="USA",
                archived=index == len(people) - 1,
            )
        )
    return contacts


def seed() -> bool:
    """Create the demo accounts, logins and contacts once; returns False when already seeded."""
    if db.session.query(Account).count():
        return False
    with qbo.suppress_capture():
        accounts = {name: Account(name=name) for name in ACCOUNTS}
        db.session.add_all(accounts.values())
        db.session.flush()
        for account_name, email, name, role in LOGINS:
            user = User(account_id=accounts[account_name].id, email=email, name=name, role=role)
            user.set_password(DEMO_PASSWORD)
            db.session.add(user)
        db.session.add_all(_contacts_for(accounts["Acme Landscaping"], "acme", _ACME_PEOPLE, demo_customer_emails()))
        db.session.add_all(_contacts_for(accounts["Globex Supplies"], "globex", _GLOBEX_PEOPLE, []))
        db.session.commit()
    return True
