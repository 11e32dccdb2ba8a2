"""QBO query text: the one string-literal escaper, and the rewrites paging needs."""

from __future__ import annotations

import pathlib
import re

import pytest

import flask_qbo
from flask_qbo.intuit.query import count_statement
from flask_qbo.intuit.query import has_paging
from flask_qbo.intuit.query import paged
from flask_qbo.intuit.query import quote


def test_quote_escapes_quotes_and_backslashes() -> None:
    assert quote("O'Brien") == "'O\\'Brien'"
    assert quote("a\\'b") == "'a\\\\\\'b'"
    assert quote(42) == "'42'"


@pytest.mark.parametrize("value", ["O'Brien", "a\\", "\\'", "''", "x\\\\'y", "' OR 1=1 --"])
def test_a_quoted_value_is_one_literal_that_reads_back_unchanged(value: str) -> None:
    """Whatever the value, the literal ends where the quoting says, and unescaping gives the value back."""
    literal = quote(value)
    assert re.fullmatch(r"'(?:\\.|[^'\\])*'", literal)
    assert re.sub(r"\\(.)", r"\1", literal[1:-1]) == value


def test_paging_clauses_inside_literals_are_not_paging() -> None:
    assert has_paging("SELECT * FROM Customer MAXRESULTS 10")
    assert has_paging("select * from Customer startposition 5")
    assert not has_paging(f"SELECT * FROM Customer WHERE DisplayName = {quote('MAXRESULTS 5')}")
    assert not has_paging("SELECT * FROM Customer WHERE DisplayName = " + quote("it's STARTPOSITION"))


def test_paged_and_count_statements() -> None:
    assert paged("SELECT * FROM Customer  ", 1001, 1000) == "SELECT * FROM Customer STARTPOSITION 1001 MAXRESULTS 1000"
    assert count_statement("select *  from Invoice WHERE Id = '1'") == "SELECT COUNT(*) FROM Invoice WHERE Id = '1'"
    assert count_statement("SELECT COUNT(*) FROM Invoice") == "SELECT COUNT(*) FROM Invoice"


def test_query_literals_are_escaped_in_one_place_only() -> None:
    """Two escapers drift apart; every caller uses :func:`flask_qbo.intuit.query.quote`."""
    package = pathlib.Path(flask_qbo.__file__).parent
    escaping = re.compile(r"""replace\(\s*["']\\?'["']\s*,""")
    found = sorted(
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if "emulator" not in path.parts and escaping.search(path.read_text(encoding="utf-8"))
    )
    assert found == ["intuit/query.py"]
