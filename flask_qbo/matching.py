"""Proposing which CRM contact an imported QBO customer is.

Keys are tried from the most to the least trustworthy: exact e-mail, then the
phone number (digits only, last ten, so ``+1 (415) 444-6538`` equals
``415.444.6538``), then the person's or company's name with case, punctuation
and legal suffixes ("Inc", "LLC") removed.  A key shared by several contacts,
or a contact claimed by several customers, is flagged ambiguous rather than
guessed: the admin decides.
"""

from __future__ import annotations

import re
import typing as t
import unicodedata

#: Legal-form words dropped when comparing company names.
COMPANY_SUFFIXES = frozenset({
    "inc", "incorporated", "llc", "llp", "ltd", "limited", "co", "corp", "corporation", "company",
    "plc", "gmbh", "ag", "sa", "sarl", "bv", "pty", "lp",
})
_NON_WORD = re.compile(r"[^\w\s]+")

#: Match kinds in order of trust; ``exact`` imports accept only the first.
KINDS = ("email", "phone", "name")


def norm_email(value: t.Any) -> str | None:
    """An e-mail address compared case-insensitively (``None`` when it is not one)."""
    text = str(value or "").strip().casefold()
    return text if "@" in text else None


def norm_phone(value: t.Any) -> str | None:
    """Digits only, the last ten (drops a country code); ``None`` for fewer than seven digits."""
    digits = "".join(ch for ch in str(value or "") if ch.isdigit())
    return digits[-10:] if len(digits) >= 7 else None


def norm_name(value: t.Any) -> str | None:
    """Case-, accent- and punctuation-insensitive name without legal suffixes."""
    text = unicodedata.normalize("NFKD", str(value or ""))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    words = [w for w in _NON_WORD.sub(" ", text).split() if w not in COMPANY_SUFFIXES]
    return " ".join(words) or None


def keys_of(values: t.Mapping[str, t.Any]) -> dict[str, set[str]]:
    """Match keys of a ``{QBO path: value}`` set (from a customer or a contact)."""
    person = norm_name(" ".join(str(values.get(p) or "") for p in ("GivenName", "FamilyName")))
    names = {n for n in (person, norm_name(values.get("CompanyName")), norm_name(values.get("DisplayName"))) if n}
    phones = {
        p for p in (
            norm_phone(values.get(path)) for path in (
                "PrimaryPhone.FreeFormNumber", "Mobile.FreeFormNumber", "AlternatePhone.FreeFormNumber",
            )
        ) if p
    }
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


def flag_shared(proposals: dict[str, tuple[str | None, str, list[str]]]) -> dict[str, tuple[str | None, str, list[str]]]:
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
