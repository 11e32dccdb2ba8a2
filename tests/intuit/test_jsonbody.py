"""JSON from outside is read by one function: a clear error for anything it cannot read safely."""

from __future__ import annotations

import json
import random
import sys

import pytest

from flask_qbo.intuit.jsonbody import MAX_JSON_DEPTH
from flask_qbo.intuit.jsonbody import JSONInputError
from flask_qbo.intuit.jsonbody import json_depth
from flask_qbo.intuit.jsonbody import load_json
from flask_qbo.intuit.jsonbody import text_depth


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    "value,depth", [(1, 0), ("x", 0), ([], 1), ({}, 1), ({"a": [1, {"b": []}]}, 4), ([[], [[[]]], []], 4)]
)
def test_depth_counts_lists_and_objects(value: object, depth: int) -> None:
    assert json_depth(value, 10) == depth


def test_depth_is_measured_without_recursion() -> None:
    value: list[object] = []
    for _ in range(sys.getrecursionlimit() * 3):
        value = [value]
    assert json_depth(value, 5) == 6, "stops one level past the limit"
    assert json_depth(value, 10**6) == sys.getrecursionlimit() * 3 + 1


def test_bodies_up_to_the_limit_are_read() -> None:
    assert load_json(nested(MAX_JSON_DEPTH)) == json.loads(nested(MAX_JSON_DEPTH))
    assert load_json(b'{"a": "\xc3\xa9"}') == {"a": "é"}


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 900, 100_000])
def test_deeper_bodies_are_refused_the_same_way_whether_or_not_python_could_parse_them(depth: int) -> None:
    with pytest.raises(JSONInputError) as info:
        load_json(nested(depth))
    assert str(info.value) == f"the JSON is nested more than {MAX_JSON_DEPTH} levels deep"


@pytest.mark.parametrize("body", [b"", b"{", b'["\xff"]', "[1,]"])
def test_what_is_not_json_says_so(body: bytes | str) -> None:
    with pytest.raises(JSONInputError, match="^the body is not JSON: "):
        load_json(body)


def test_a_lower_limit_can_be_asked_for() -> None:
    assert load_json("[[1]]", max_depth=2) == [[1]]
    with pytest.raises(JSONInputError, match="more than 1 levels"):
        load_json("[[1]]", max_depth=1)


TEXTS = [
    '{"a": "[[[{{{", "b": [1, {"c": "]]}}"}]}',
    '{"q": "a \\"quoted [ bracket\\" and a backslash \\\\", "l": [[[]]]}',
    '[[], [[]], {}, {"x": [{"y": []}]}]',
    '"just a string with [brackets]"',
    '{"end": "a backslash last \\\\", "l": [[{"q": "\\"]\\" \\u005b"}]]}',
    '{"Name": "Café [Zürich] \u00e9", "Tags": ["日本", ["ü"]]}',
    "42",
    '["[", "]", ["x"], "", ""]',
    '{"": {"": [""]}, "a": "[", "b": "]", "c": [[]], "d": "{\\\\"}',
    '{"Customer": ['
    + ", ".join(json.dumps({"Id": str(n), "BillAddr": {"Line1": f"Suite {{{n}}}"}}) for n in range(50))
    + "]}",
]


@pytest.mark.parametrize("text", TEXTS)
def test_the_depth_read_from_the_text_is_the_parsed_values_depth(text: str) -> None:
    value = json.loads(text)
    assert text_depth(text, MAX_JSON_DEPTH) == json_depth(value, MAX_JSON_DEPTH)
    assert text_depth(text.encode(), MAX_JSON_DEPTH) == json_depth(value, MAX_JSON_DEPTH)  # as Intuit's bytes


def _random_value(rng: random.Random, depth: int) -> object:
    """A JSON value whose strings are made of the characters the depth reading has to see through."""
    if depth == 0 or rng.random() < 0.3:
        return "".join(rng.choice('[]{}"\\ aé') for _ in range(rng.randrange(4))) if rng.random() < 0.8 else 1
    items = [_random_value(rng, depth - 1) for _ in range(rng.randrange(4))]
    if rng.random() < 0.5:
        return items
    return {"".join(rng.choice('[]"x') for _ in range(rng.randrange(3))) + str(n): v for n, v in enumerate(items)}


def test_the_depth_read_from_random_texts_is_the_parsed_values_depth() -> None:
    rng = random.Random(16)
    for _ in range(500):
        value = _random_value(rng, 6)
        text = json.dumps(value, ensure_ascii=rng.random() < 0.5)
        assert text_depth(text, MAX_JSON_DEPTH) == json_depth(value, MAX_JSON_DEPTH), text


def test_brackets_inside_strings_never_count() -> None:
    deep_looking = json.dumps({"note": "[" * 500 + "{" * 500})
    assert load_json(deep_looking) == {"note": "[" * 500 + "{" * 500}
    assert text_depth(deep_looking, MAX_JSON_DEPTH) == 1


def test_a_body_in_another_encoding_is_measured_by_walking_it() -> None:
    body = json.dumps({"a": [[{"b": 1}]]}).encode("utf-16")
    assert load_json(body) == {"a": [[{"b": 1}]]}
    too_deep = ("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1)).encode("utf-16")
    with pytest.raises(JSONInputError, match="nested more than"):
        load_json(too_deep)
