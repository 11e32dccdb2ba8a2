"""The ``ExchangeRate`` entity: ``GET /exchangerate`` and ``select * from exchangerate``.

QBO serves exchange rates outside its ordinary entity tables: one rate is read
with ``GET /exchangerate?sourcecurrencycode=EUR[&asofdate=YYYY-MM-DD]`` (today
when no date is given) and several with a query on ``sourcecurrencycode``
(``=`` or ``IN``) and ``asofdate`` (facts §7). The rates come from the fixed
table in :mod:`.rules.currency`; the target is always the home currency.
"""

from __future__ import annotations

import re
import typing as t

from . import errors
from .rules.currency import exchange_rate
from .rules.flags import home_currency
from .rules.values import check_date

if t.TYPE_CHECKING:
    from .store import Store

_FROM = re.compile(r"\bfrom\s+exchangerate\b", re.IGNORECASE)
_SOURCE = re.compile(r"\bsourcecurrencycode\s*(?:=\s*'([^']*)'|in\s*\(([^)]*)\))", re.IGNORECASE)
_AS_OF = re.compile(r"\basofdate\s*=\s*'([^']*)'", re.IGNORECASE)


def read_rate(store: Store, realm: str, source: str | None, as_of: str | None) -> dict[str, t.Any]:
    """One rate, as ``GET /exchangerate`` answers it."""
    if not source:
        raise errors.required("sourcecurrencycode")
    with store.lock:
        home = home_currency(store.company(realm), store.config.home_currency[0])
    day = check_date(as_of, "asofdate") if as_of else store.clock.today()
    return {"ExchangeRate": exchange_rate(source.strip().upper(), home, day)}


def is_rate_query(statement: str) -> bool:
    return bool(_FROM.search(statement))


def query_rates(store: Store, realm: str, statement: str) -> dict[str, t.Any]:
    """``select * from exchangerate where sourcecurrencycode in (…) [and asofdate = '…']``."""
    found = _SOURCE.search(statement)
    if found is None:
        raise errors.required("sourcecurrencycode")
    codes = [found.group(1)] if found.group(1) is not None else re.findall(r"'([^']*)'", found.group(2))
    as_of = _AS_OF.search(statement)
    with store.lock:
        home = home_currency(store.company(realm), store.config.home_currency[0])
    day = check_date(as_of.group(1), "asofdate") if as_of else store.clock.today()
    rates = [exchange_rate(code.strip().upper(), home, day) for code in codes]
    return {"QueryResponse": {"ExchangeRate": rates, "startPosition": 1, "maxResults": len(rates)}}
