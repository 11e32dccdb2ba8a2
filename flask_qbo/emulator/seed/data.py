"""The material the seed draws from: names, places, product lines, customer profiles.

Only tables and pure functions of a ``random.Random``: :func:`customer_profiles`
builds the same customers for the same generator state, so the demo's
customer emails are known without building an emulator. The procedure that
turns profiles into a company's history is :mod:`.history`.
"""

from __future__ import annotations

import random
import typing as t
from dataclasses import dataclass
from dataclasses import field
from decimal import ROUND_HALF_UP
from decimal import Decimal

FIRST_NAMES = (
    "Amelia",
    "Benjamin",
    "Carmen",
    "Dmitri",
    "Elena",
    "Farah",
    "Gabriel",
    "Hannah",
    "Isaac",
    "Jasmine",
    "Kenji",
    "Leila",
    "Marcus",
    "Nadia",
    "Oscar",
    "Priya",
    "Quentin",
    "Rosa",
    "Samuel",
    "Tamsin",
    "Umar",
    "Valeria",
    "Wesley",
    "Ximena",
    "Yusuf",
    "Zoe",
    "Harold",
    "Ingrid",
    "Julian",
    "Keiko",
)
LAST_NAMES = (
    "Abernathy",
    "Blackwood",
    "Castellano",
    "Delacroix",
    "Eriksen",
    "Fairbanks",
    "Galloway",
    "Hollister",
    "Iwasaki",
    "Jablonski",
    "Kowalczyk",
    "Lindqvist",
    "Montgomery",
    "Novak",
    "Okonkwo",
    "Pemberton",
    "Quintero",
    "Rasmussen",
    "Sorensen",
    "Thibodeaux",
    "Underwood",
    "Valdivia",
    "Whitfield",
    "Yamamoto",
    "Zielinski",
    "Ashworth",
    "Brennan",
    "Chandler",
    "Dunmore",
    "Ellsworth",
)
BUSINESS_KINDS = (
    "Dental Group",
    "Realty",
    "Bakery",
    "Veterinary Clinic",
    "Law Office",
    "Hardware",
    "Bistro",
    "Yoga Studio",
    "Auto Repair",
    "Family Farm",
    "Architects",
    "Bookshop",
    "Brewing Co.",
    "Pet Grooming",
    "Medical Supplies",
)
STREETS = (
    "Maple Ave",
    "Oak St",
    "Cedar Ln",
    "Harbor Blvd",
    "Sunset Dr",
    "Mission St",
    "Elm Ct",
    "Ridge Rd",
    "Lakeview Ter",
    "Pine Way",
    "Granite Pkwy",
    "Willow Pl",
)
# (city, state, first three digits of its ZIP codes, area code)
PLACES = (
    ("Sacramento", "CA", "958", "916"),
    ("Palo Alto", "CA", "943", "650"),
    ("Bayshore", "CA", "940", "415"),
    ("Portland", "OR", "972", "503"),
    ("Seattle", "WA", "981", "206"),
    ("Boise", "ID", "837", "208"),
    ("Reno", "NV", "895", "775"),
    ("Phoenix", "AZ", "850", "602"),
    ("Denver", "CO", "802", "303"),
    ("Austin", "TX", "787", "512"),
    ("Madison", "WI", "537", "608"),
    ("Burlington", "VT", "054", "802"),
)
# (city, province, first three characters of its postal codes, area code)
CANADIAN_PLACES = (
    ("Toronto", "ON", "M5V", "416"),
    ("Ottawa", "ON", "K1P", "613"),
    ("Hamilton", "ON", "L8P", "905"),
    ("Kingston", "ON", "K7L", "613"),
    ("Montreal", "QC", "H2Y", "514"),
    ("Halifax", "NS", "B3J", "902"),
    ("Vancouver", "BC", "V6B", "604"),
    ("Calgary", "AB", "T2P", "403"),
)
#: Where a seeded company's customers live, and how the country is written in their addresses.
PLACES_BY_COUNTRY = {"US": (PLACES, "USA"), "CA": (CANADIAN_PLACES, "Canada")}
_POSTAL_LETTERS = "ABCEGHJKLMNPRSTVXY"
NOTES = (
    "Prefers to be contacted by email.",
    "Gate code 4417; dog in the back yard.",
    "Invoices go to the office manager.",
    "Long-time customer; referred by a neighbour.",
    "Seasonal account: busy from April to October.",
    "Asked for a quote on the spring clean-up.",
)
DELIVERY_CHOICES = ("Email", "Email", "Print", "None")
#: How often each estimate status is drawn once every status has appeared.
ESTIMATE_WEIGHTS = {"Pending": 30, "Accepted": 20, "Closed": 25, "Rejected": 15, "Converted": 10}

CATALOGUES: dict[str, tuple[tuple[str, int, int], ...]] = {
    # (line description, min amount, max amount) in whole dollars. Each line is
    # sold as the item products.LINE_ITEMS names.
    "landscaping": (
        ("Weekly garden maintenance", 60, 420),
        ("Landscape design consultation", 150, 900),
        ("Sprinkler system installation", 400, 2800),
        ("Tree and hedge trimming", 90, 650),
        ("Outdoor lighting fixtures", 120, 1500),
        ("Pest control treatment", 70, 300),
        ("Garden soil and mulch, delivered", 40, 380),
        ("Hardscape: patio pavers laid", 600, 4200),
    ),
    "trading": (
        ("Teak deck chairs", 180, 1600),
        ("Braided marine rope, per spool", 35, 260),
        ("Brass harbour lanterns", 45, 520),
        ("Heavy canvas covers", 80, 900),
        ("Freight and handling", 25, 300),
    ),
}


@dataclass
class Profile:
    """A customer to create: the QBO body plus the choices made for its history."""

    body: dict[str, t.Any]
    email: str
    inactive: bool = False
    extra: dict[str, t.Any] = field(default_factory=dict)


def money(value: float | Decimal) -> float:
    """Round to cents the way an invoice would (half up), as a JSON number."""
    return float(Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _slug(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def _postal_code(prefix: str, number: int, country: str) -> str:
    """A US ZIP code (prefix + two digits) or a Canadian one (``M5V 3A7``) from the same draw."""
    if country == "USA":
        return f"{prefix}{number:02d}"
    return f"{prefix} {number % 10}{_POSTAL_LETTERS[number % len(_POSTAL_LETTERS)]}{number // 10}"


def _address(rng: random.Random, places: tuple[tuple[str, str, str, str], ...], country: str) -> dict[str, str]:
    city, state, zip_prefix, _area = rng.choice(places)
    return {
        "Line1": f"{rng.randint(10, 9899)} {rng.choice(STREETS)}",
        "City": city,
        "CountrySubDivisionCode": state,
        "PostalCode": _postal_code(zip_prefix, rng.randint(1, 99), country),
        "Country": country,
    }


def customer_profiles(
    rng: random.Random,
    count: int,
    where: tuple[tuple[tuple[str, str, str, str], ...], str] = (PLACES, "USA"),
) -> list[Profile]:
    """Build ``count`` distinct customers; a pure function of the generator state.

    Kept separate from any emulator so :data:`DEMO_CUSTOMER_EMAILS` can be
    computed without building one. The last profile is the inactive customer.
    ``where`` is (places, country) of their addresses (:data:`PLACES_BY_COUNTRY`).
    """
    places, country = where
    profiles: list[Profile] = []
    used_names: set[str] = set()
    while len(profiles) < count:
        given = rng.choice(FIRST_NAMES)
        family = rng.choice(LAST_NAMES)
        has_company = rng.random() < 0.7
        company = f"{family} {rng.choice(BUSINESS_KINDS)}" if has_company else ""
        display = company or f"{given} {family}"
        if display in used_names:
            continue
        used_names.add(display)
        domain = f"{_slug(company)}.example.com" if company else "example.net"
        email = f"{_slug(given)}.{_slug(family)}@{domain}"
        bill = _address(rng, places, country)
        area = next(p[3] for p in places if p[1] == bill["CountrySubDivisionCode"])
        body: dict[str, t.Any] = {
            "DisplayName": display,
            "GivenName": given,
            "FamilyName": family,
            "PrimaryEmailAddr": {"Address": email},
            "PrimaryPhone": {"FreeFormNumber": f"({area}) 555-{rng.randint(100, 199):04d}"},
            "BillAddr": bill,
            "ShipAddr": dict(bill) if rng.random() < 0.7 else _address(rng, places, country),
        }
        if company:
            body["CompanyName"] = company
        if rng.random() < 0.5:
            body["Notes"] = rng.choice(NOTES)
        if rng.random() < 0.3:
            body["Mobile"] = {"FreeFormNumber": f"({area}) 555-{rng.randint(200, 299):04d}"}
        extra = {
            "term": rng.random() < 0.85,
            "method": rng.random() < 0.8,
            "delivery": rng.choice(DELIVERY_CHOICES) if rng.random() < 0.9 else None,
        }
        profiles.append(Profile(body=body, email=email, extra=extra))
    if profiles:
        profiles[-1].inactive = True
    return profiles


def ref(entity: dict[str, t.Any], name_key: str = "Name") -> dict[str, str]:
    return {"value": str(entity["Id"]), "name": str(entity.get(name_key, ""))}
