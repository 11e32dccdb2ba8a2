"""Proposing which CRM contact an imported QBO customer is.

Keys are tried from the most to the least trustworthy: exact e-mail, then the
phone number (digits only, last ten, so ``+1 (415) 444-6538`` equals
``415.444.6538``), then the person's or company's name with case, punctuation
and legal suffixes ("Inc", "LLC") removed.  A key shared by several contacts,
or a contact claimed by several customers, is flagged ambiguous rather than
guessed: the admin decides.

The same module lists a tenant's contacts (:func:`tenant_contacts`) and
searches them for the review's contact picker (:func:`search_contacts`).
"""

from __future__ import annotations

import re
import typing as t
import unicodedata

from sqlalchemy import inspect as sa_inspect
from sqlalchemy import or_
from sqlalchemy.orm import Mapper

from ..fieldmap import FieldMap

if t.TYPE_CHECKING:
    from sqlalchemy import ColumnElement
    from sqlalchemy.orm import Query

    from ..extension import QBO

#: Legal-form words dropped when comparing company names.
COMPANY_SUFFIXES = frozenset(
    {
        "inc",
        "incorporated",
        "llc",
        "llp",
        "ltd",
        "limited",
        "co",
        "corp",
        "corporation",
        "company",
        "plc",
        "gmbh",
        "ag",
        "sa",
        "sarl",
        "bv",
        "pty",
        "lp",
    }
)
_NON_WORD = re.compile(r"[^\w\s]+")

#: Match kinds in order of trust; ``exact`` imports accept only the first.
KINDS = ("email", "phone", "name")


def norm_email(value: object) -> str | None:
    """An e-mail address compared case-insensitively (``None`` when it is not one)."""
    text = str(value or "").strip().casefold()
    return text if "@" in text else None


def norm_phone(value: object) -> str | None:
    """Digits only, the last ten (drops a country code); ``None`` for fewer than seven digits."""
    digits = "".join(ch for ch in str(value or "") if ch.isdigit())
    return digits[-10:] if len(digits) >= 7 else None


def norm_name(value: object) -> str | None:
    """Case-, accent- and punctuation-insensitive name without legal suffixes."""
    text = str(value or "")
    if not text.isascii():  # ASCII has no accents to take off: most names skip the decomposition
        text = "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))
    text = text.casefold()
    words = [w for w in _NON_WORD.sub(" ", text).split() if w not in COMPANY_SUFFIXES]
    return " ".join(words) or None


#: QBO paths whose values make a name key, phone keys and the e-mail key (:func:`keys_of`).
PHONE_PATHS = ("PrimaryPhone.FreeFormNumber", "Mobile.FreeFormNumber", "AlternatePhone.FreeFormNumber")
MATCH_PATHS = frozenset(
    ("GivenName", "FamilyName", "CompanyName", "DisplayName", "PrimaryEmailAddr.Address") + PHONE_PATHS
)


def match_fields(fieldmap: FieldMap) -> FieldMap:
    """The fields of ``fieldmap`` that fill a path :func:`keys_of` reads.

    Values of the others never make a key, so an import computes only these
    for each of tens of thousands of customers and contacts.
    """
    return FieldMap(*(field for field in fieldmap if MATCH_PATHS.intersection(field.paths)))


def keys_of(values: t.Mapping[str, t.Any]) -> dict[str, set[str]]:
    """Match keys of a ``{QBO path: value}`` set (from a customer or a contact)."""
    person = norm_name(" ".join(str(values.get(p) or "") for p in ("GivenName", "FamilyName")))
    names = {n for n in (person, norm_name(values.get("CompanyName")), norm_name(values.get("DisplayName"))) if n}
    phones = {p for p in (norm_phone(values.get(path)) for path in PHONE_PATHS) if p}
    email = norm_email(values.get("PrimaryEmailAddr.Address"))
    return {"email": {email} if email else set(), "phone": phones, "name": names}


class ContactIndex:
    """Contacts of one tenant indexed by match key, built once per import."""

    def __init__(self) -> None:
        self._index: dict[str, dict[str, set[str]]] = {kind: {} for kind in KINDS}

    def add(self, contact_key: str, values: t.Mapping[str, t.Any]) -> None:
        for kind, keys in keys_of(values).items():
            for key in keys:
                self._index[kind].setdefault(key, set()).add(contact_key)

    def propose(self, values: t.Mapping[str, t.Any]) -> tuple[str | None, str, list[str]]:
        """``(contact_key, kind, candidates)`` for a customer.

        The first key kind that finds anyone decides: one contact is a match of
        that kind; several are ``ambiguous`` (no proposal, all listed).
        """
        keys = keys_of(values)
        for kind in KINDS:
            found: set[str] = set()
            for key in keys[kind]:
                found |= self._index[kind].get(key, set())
            if len(found) == 1:
                return next(iter(found)), kind, []
            if found:
                return None, "ambiguous", sorted(found)
        return None, "none", []


def flag_shared(
    proposals: dict[str, tuple[str | None, str, list[str]]],
) -> dict[str, tuple[str | None, str, list[str]]]:
    """Mark proposals that claim the same contact for several customers as ambiguous."""
    claims: dict[str, list[str]] = {}
    for qbo_id, (contact_key, _, _) in proposals.items():
        if contact_key is not None:
            claims.setdefault(contact_key, []).append(qbo_id)
    result = dict(proposals)
    for contact_key, qbo_ids in claims.items():
        if len(qbo_ids) > 1:
            for qbo_id in qbo_ids:
                result[qbo_id] = (None, "ambiguous", [contact_key])
    return result


# -- the tenant's contacts ----------------------------------------------------------

#: Mapped QBO paths whose contact attributes the review's contact search looks in.
SEARCH_PATHS = ("GivenName", "FamilyName", "CompanyName", "DisplayName", "PrimaryEmailAddr.Address")
#: Rows read per chunk when filtering a search by tenant (the host's tenant column is unknown to us).
SEARCH_CHUNK = 200
#: Most rows a search reads before giving up, so a short query in a big shared table stays cheap.
SEARCH_SCAN = 2000
#: Fewest characters a search needs (a single letter matches nearly everyone).
SEARCH_MIN_CHARS = 2


def tenant_contacts(
    qbo: QBO,
    tenant_key: str,
    *,
    criteria: t.Sequence[ColumnElement[bool]] = (),
    scan: int | None = None,
    chunk: int = SEARCH_CHUNK,
) -> t.Iterator[t.Any]:
    """Contacts of ``tenant_key``, in key order, optionally narrowed by SQL ``criteria``.

    The host's tenant column is unknown to the extension, so rows are read in
    key-ordered chunks and kept when ``qbo._tenant_of(contact)`` names the
    tenant: the import's proposals and the review's search share this, so
    both see exactly the same contacts.  ``scan`` caps the rows read;
    ``chunk`` is how many are read per query.
    """
    registration = qbo._registration()
    session = qbo.state().db.session
    column = getattr(registration.model, registration.key)
    last: t.Any = None  # the host's key value: an int, a string, a UUID...
    read = 0
    while scan is None or read < scan:
        size = chunk if scan is None else min(chunk, scan - read)
        query: Query[t.Any] = session.query(registration.model).filter(*criteria)
        if last is not None:
            query = query.filter(column > last)
        rows = query.order_by(column).limit(size).all()
        for contact in rows:
            if qbo._tenant_of(contact) == tenant_key:
                yield contact
        if len(rows) < size:
            return
        read += len(rows)
        last = getattr(rows[-1], registration.key)


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_contacts(qbo: QBO, tenant_key: str, text: str, *, limit: int = 20) -> list[t.Any]:
    """Up to ``limit`` contacts of the tenant matching every word of ``text``.

    A word matches when it occurs, case-insensitively, in any mapped name,
    company or e-mail attribute (a parameterised ``LIKE``, wildcards in the
    text escaped).  A ``text`` that is exactly a contact's key finds that
    contact first, so the review's fallback field (a key) and the search agree.
    """
    text = " ".join(str(text or "").split())[:100]
    registration = qbo._registration()
    found: list[t.Any] = []
    exact = qbo.load_contact(text) if text else None
    if exact is not None and qbo._tenant_of(exact) == tenant_key:
        found.append(exact)
    if len(text) < SEARCH_MIN_CHARS:
        return found
    mapper: Mapper[t.Any] = sa_inspect(registration.model)
    stored = set(mapper.column_attrs.keys())  # a computed field has no column to search
    names = [f.attr for f in registration.fields if f.attr and f.attr in stored and set(f.paths) & set(SEARCH_PATHS)]
    columns = [getattr(registration.model, name) for name in dict.fromkeys(names)]
    if not columns:
        return found
    criteria = [
        or_(*(column.ilike(f"%{_like_escape(word)}%", escape="\\") for column in columns)) for word in text.split()[:5]
    ]
    seen = {qbo._contact_key(c) for c in found}
    for contact in tenant_contacts(qbo, tenant_key, criteria=criteria, scan=SEARCH_SCAN):
        if len(found) >= limit:
            break
        if qbo._contact_key(contact) not in seen:
            found.append(contact)
    return found[:limit]
