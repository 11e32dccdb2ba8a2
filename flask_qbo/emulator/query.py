"""QBO's query language: a small SQL dialect with QBO's own error messages.

Supported: ``SELECT * | COUNT(*) | field, …  FROM Entity  [WHERE a op v AND …]
[ORDERBY | ORDER BY f [ASC|DESC], …]  [STARTPOSITION n]  [MAXRESULTS n]`` with the
operators ``= < > <= >= IN LIKE`` (``%`` wildcard only). Anything else, ``OR``
included, is a 4000 parser error; a property that cannot be filtered is 4001.
Parsing lives here; running a parsed query over rows is :mod:`.selection`'s job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from dataclasses import field

from . import entities
from .errors import EmulatorFault

DEFAULT_MAX_RESULTS = 100
MAX_RESULTS_LIMIT = 1000
#: Scalar top-level fields a projection may name besides the filterable ones.
SELECTABLE_EXTRA = frozenset(
    {
        "SyncToken",
        "Title",
        "Suffix",
        "Notes",
        "Taxable",
        "PreferredDeliveryMethod",
        "ResaleNum",
        "Level",
        "BillWithParent",
        "Balance",
        "DueDate",
        "TxnStatus",
        "UnappliedAmt",
        "RemainingCredit",
        "EmailStatus",
        "PrintStatus",
        "Name",
        "Type",
        "DueDays",
        "PaymentRefNum",
        "ExpirationDate",
        "domain",
        "sparse",
        "Sku",
    }
)
_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>'(?:\\.|[^'\\])*')
  | (?P<number>-?\d+(?:\.\d+)?(?![A-Za-z_]))
  | (?P<ident>[A-Za-z_][A-Za-z0-9_.]*)
  | (?P<op><=|>=|<>|!=|=|<|>)
  | (?P<punct>[(),*])
""",
    re.VERBOSE,
)
_KEYWORDS = {
    "select",
    "from",
    "where",
    "and",
    "or",
    "not",
    "in",
    "like",
    "orderby",
    "asc",
    "desc",
    "startposition",
    "maxresults",
    "count",
    "true",
    "false",
}


def parser_error(token: Token) -> EmulatorFault:
    kind = "<EOF>" if token.kind == "eof" else f"<{token.kind.upper()}>"
    return EmulatorFault(
        400,
        "4000",
        "Error parsing query",
        f'QueryParserError: Encountered " {kind} "{token.text} "" at line 1, column {token.col}.',
    )


def validation_error(detail: str) -> EmulatorFault:
    return EmulatorFault(400, "4001", "Invalid query", f"QueryValidationError: {detail}")


@dataclass
class Token:
    kind: str  # string | number | ident | keyword | op | punct | eof
    text: str
    col: int
    value: str = ""


@dataclass
class Condition:
    field: str
    op: str  # = < > <= >= in like
    values: list[str | bool]


@dataclass
class Query:
    entity: str
    count: bool = False
    fields: list[str] | None = None  # None means SELECT *
    extra: list[str] = field(default_factory=list)  # names after ``*, `` (validated, not projected)
    where: list[Condition] = field(default_factory=list)
    order: list[tuple[str, bool]] = field(default_factory=list)  # (field, descending)
    start: int = 1
    max_results: int = DEFAULT_MAX_RESULTS


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match:
            raise parser_error(Token("char", text[pos], pos + 1))
        kind = match.lastgroup or ""
        raw = match.group()
        if kind == "string":
            tokens.append(Token("string", raw, pos + 1, re.sub(r"\\(.)", r"\1", raw[1:-1])))
        elif kind == "number":
            tokens.append(Token("number", raw, pos + 1, raw))
        elif kind == "ident":
            lowered = raw.lower()
            tokens.append(Token("keyword" if lowered in _KEYWORDS else "ident", raw, pos + 1, lowered))
        elif kind in ("op", "punct"):
            tokens.append(Token(kind, raw, pos + 1, raw))
        pos = match.end()
    tokens.append(Token("eof", "", len(text) + 1))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def keyword(self, *words: str) -> bool:
        return self.tok.kind == "keyword" and self.tok.value in words

    def expect_keyword(self, word: str) -> None:
        if not self.keyword(word):
            raise parser_error(self.tok)
        self.take()

    def expect_punct(self, char: str) -> None:
        if self.tok.text != char:
            raise parser_error(self.tok)
        self.take()

    def ident(self) -> str:
        if self.tok.kind != "ident":
            raise parser_error(self.tok)
        return self.take().text

    def integer(self) -> int:
        token = self.take()
        raw = token.value if token.kind in ("number", "string") else None
        if raw is None or not re.fullmatch(r"-?\d+", str(raw).strip()):
            raise parser_error(token)
        return int(str(raw).strip())

    def literal(self) -> str | bool:
        token = self.take()
        if token.kind in ("string", "number"):
            return token.value
        if token.kind == "keyword" and token.value in ("true", "false"):
            return token.value == "true"
        raise parser_error(token)

    def parse(self) -> Query:
        self.expect_keyword("select")
        count, fields, extra = False, None, []
        if self.tok.text == "*":
            self.take()
            while self.tok.text == ",":  # ``SELECT *, Sku FROM Item``: named extras add nothing to *
                self.take()
                extra.append(self.ident())
        elif self.keyword("count"):
            self.take()
            self.expect_punct("(")
            self.expect_punct("*")
            self.expect_punct(")")
            count = True
        else:
            fields = [self.ident()]
            while self.tok.text == ",":
                self.take()
                fields.append(self.ident())
        self.expect_keyword("from")
        query = Query(entity=self.ident(), count=count, fields=fields, extra=extra)
        if self.keyword("where"):
            self.take()
            query.where.append(self.condition())
            while self.keyword("and"):
                self.take()
                query.where.append(self.condition())
        if self.order_by():
            query.order.append(self.order_item())
            while self.tok.text == ",":
                self.take()
                query.order.append(self.order_item())
        seen: set[str] = set()
        while self.keyword("startposition", "maxresults") and self.tok.value not in seen:
            word = self.take().value
            seen.add(word)
            value = self.integer()
            if word == "startposition":
                query.start = value
            else:
                query.max_results = value
        if self.tok.kind != "eof":
            raise parser_error(self.tok)
        return query

    def condition(self) -> Condition:
        name = self.ident()
        if self.keyword("in"):
            self.take()
            self.expect_punct("(")
            values = [self.literal()]
            while self.tok.text == ",":
                self.take()
                values.append(self.literal())
            self.expect_punct(")")
            return Condition(name, "in", values)
        if self.keyword("like"):
            self.take()
            if self.tok.kind != "string":
                raise parser_error(self.tok)
            return Condition(name, "like", [self.take().value])
        if self.tok.kind != "op" or self.tok.text in ("<>", "!="):
            raise parser_error(self.tok)
        op = self.take().text
        return Condition(name, op, [self.literal()])

    def order_by(self) -> bool:
        """Consume ``ORDERBY`` or ``ORDER BY``: QBO's parser knows both (its 4000 detail lists
        ``"order"`` and ``"orderby"`` as expected tokens) and python-quickbooks' ``all()`` sends the
        two-word form."""
        if self.keyword("orderby"):
            self.take()
            return True
        if self.tok.kind != "ident" or self.tok.text.lower() != "order":
            return False
        following = self.tokens[self.i + 1]  # an ident is never last: "eof" ends the list
        if following.kind == "ident" and following.text.lower() == "by":
            self.i += 2
            return True
        return False

    def order_item(self) -> tuple[str, bool]:
        name = self.ident()
        descending = False
        if self.keyword("asc", "desc"):
            descending = self.take().value == "desc"
        return name, descending


def parse(text: str) -> Query:
    """Parse a statement; raise 4000/4001 faults as QBO does."""
    query = _Parser(text.strip().rstrip(";")).parse()
    canonical = entities.BY_LOWER.get(query.entity.lower())
    if canonical is None:
        raise validation_error(f"Entity {query.entity} is not supported.")
    query.entity = canonical
    allowed = entities.FILTERABLE[canonical]
    for name in [c.field for c in query.where] + [o[0] for o in query.order]:
        if _canonical_field(name, allowed) is None:
            raise validation_error(f"Property {name} not found for Entity {canonical}")
    for cond in query.where:
        cond.field = _canonical_field(cond.field, allowed) or cond.field
    query.order = [(_canonical_field(n, allowed) or n, d) for n, d in query.order]
    if query.fields is not None or query.extra:
        for name in (query.fields or []) + query.extra:
            if "." in name or (name not in allowed and name not in SELECTABLE_EXTRA):
                raise validation_error(f"Property {name} not found for Entity {canonical}")
    if query.start < 1:
        raise validation_error(f"value {query.start} is too small. Min allowed value is 1")
    if query.max_results < 1:
        raise validation_error(f"value {query.max_results} is too small. Min allowed value is 1")
    if query.max_results > MAX_RESULTS_LIMIT:
        raise validation_error(f"value {query.max_results} is too large. Max allowed value is {MAX_RESULTS_LIMIT}")
    return query


def _canonical_field(name: str, allowed: frozenset[str]) -> str | None:
    """Property names match case-insensitively (``Metadata.LastUpdatedTime`` works)."""
    lowered = name.lower()
    return next((f for f in allowed if f.lower() == lowered), None)
