"""The query language: grammar, round trip, errors, limits."""

from __future__ import annotations

import string
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.errors import RuleError
from monitor.match.query import (FIELDS, MAX_DEPTH, And, Field, ListRef, Near, Not, NotNear, Or,
                                 Term, format_query, parse_query)

# --- the round trip: parse(format(ast)) == ast -----------------------------------------------
_TEXT = st.text(alphabet=string.ascii_letters + string.digits + "éÉçàüßœ'’-+:&./$ \tأقرصنة中",
                min_size=1, max_size=12).filter(lambda s: s.strip())
_TERMS = st.builds(Term, _TEXT, st.booleans())
_LISTS = st.builds(ListRef, st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,10}", fullmatch=True))
_DISTANCE = st.integers(min_value=1, max_value=1000)


def _extend(children: st.SearchStrategy) -> st.SearchStrategy:
    several = st.lists(children, min_size=2, max_size=4).map(tuple)
    return st.one_of(
        st.builds(Field, st.sampled_from(FIELDS), children),
        st.builds(Not, children),
        st.builds(And, several),
        st.builds(Or, several),
        st.builds(Near, children, children, _DISTANCE),
        st.builds(NotNear, children, children, _DISTANCE),
    )


QUERIES = st.recursive(st.one_of(_TERMS, _LISTS), _extend, max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(QUERIES)
def test_format_then_parse_gives_the_same_tree(ast):
    text = format_query(ast)
    assert parse_query(text) == ast
    assert format_query(parse_query(text)) == text  # and the text is canonical


@pytest.mark.parametrize("query, expected", [
    ("pirate", Term("pirate")),
    ('"pirate"', Term("pirate")),  # quoting one word changes nothing
    ("pirat*", Term("pirat", prefix=True)),
    ('"pirate stream*"', Term("pirate stream", prefix=True)),
    ("$piracy", ListRef("piracy")),
    ("a AND b OR c", Or((And((Term("a"), Term("b"))), Term("c")))),  # AND binds tighter
    ("a OR b AND c", Or((Term("a"), And((Term("b"), Term("c")))))),
    ("a AND b AND c", And((Term("a"), Term("b"), Term("c")))),
    ("a NOT b", And((Term("a"), Not(Term("b"))))),  # shorthand for a AND NOT b
    ("NOT a AND b", And((Not(Term("a")), Term("b")))),  # NOT binds tightest
    ("a NEAR/5 b AND c", And((Near(Term("a"), Term("b"), 5), Term("c")))),
    ("a NEAR/5 b NEAR/3 c", Near(Near(Term("a"), Term("b"), 5), Term("c"), 3)),
    ("a NOT NEAR/2 b", NotNear(Term("a"), Term("b"), 2)),
    ("title:pirate", Field("title", Term("pirate"))),
    ("title:(a OR b)", Field("title", Or((Term("a"), Term("b"))))),
    ('lang:fr AND "l\'IPTV"', And((Field("lang", Term("fr")), Term("l'IPTV")))),
    ("CANAL+ OR anti-piracy", Or((Term("CANAL+"), Term("anti-piracy")))),
    ("NEARBY AND ORANGE", And((Term("NEARBY"), Term("ORANGE")))),  # only exact keywords
    ('"AND" OR "NOT"', Or((Term("AND"), Term("NOT")))),
    ("  ( ( a ) )  ", Term("a")),
])
def test_parse(query, expected):
    assert parse_query(query) == expected


@pytest.mark.parametrize("query, position, expected", [
    ("pirate iptv", 7, "expected AND, OR, NOT, NEAR/n or the end of the query"),
    ("pirate and iptv", 7, "operators are upper case"),
    ("pirate AND", 10, "expected a word"),
    ("(pirate OR iptv", 15, "expected ')' to close the '(' at position 0"),
    ("pirate)", 6, "expected AND, OR"),
    ('"pirate iptv', 0, "unterminated phrase"),
    ('""', 0, "empty phrase"),
    ("pi*rate", 2, "'*' may only end a word"),
    ("*", 0, "'*' may only end a word"),
    ("headline:pirate", 0, "unknown field 'headline'"),
    ("$", 0, "expected a list name"),
    ("a NEAR b", 2, "expected NEAR/n"),
    ("a NEAR/0 b", 2, "expected NEAR/n with n from 1 to 1000"),
    ("a NEAR/5000 b", 2, "expected NEAR/n"),
    ("NOT", 3, "expected a word"),
    ("a AND NOT NEAR/3 b", 10, "expected a word"),
    ("", 0, "expected a word"),
])
def test_syntax_errors_name_the_rule_the_position_and_what_was_expected(query, position, expected):
    with pytest.raises(RuleError) as e:
        parse_query(query, rule="my-rule")
    assert e.value.rule == "my-rule"
    assert e.value.position == position
    assert expected in str(e.value)
    assert str(e.value).startswith(f'rule "my-rule", position {position}: ')


def test_format_refuses_what_the_language_cannot_say():
    with pytest.raises(ValueError):
        format_query(Term('say "hi"'))


# --- pathological queries: a clear error or a fast answer, never a crash ---------------------
@pytest.mark.parametrize("query", [
    "(" * 10_000 + "a" + ")" * 10_000,
    "NOT " * 10_000 + "a",
    "title:" * 10_000 + "a",
    " NEAR/2 ".join(["a"] * 5_000),
    "a NOT " + "(b NOT " * 5_000 + "c" + ")" * 5_000,
])
def test_deep_nesting_is_refused_clearly(query):
    start = time.perf_counter()
    with pytest.raises(RuleError, match=f"nesting deeper than {MAX_DEPTH} levels"):
        parse_query(query, rule="deep")
    assert time.perf_counter() - start < 2


def test_nesting_up_to_the_limit_is_fine():
    depth = MAX_DEPTH - 1
    assert parse_query("(" * depth + "a" + ")" * depth) == Term("a")


def test_thousands_of_ors_parse_flat_and_print_back():
    query = " OR ".join(f"word{i}" for i in range(20_000))
    ast = parse_query(query)
    assert isinstance(ast, Or) and len(ast.children) == 20_000
    assert format_query(ast) == query


@given(st.text(max_size=60))
@settings(max_examples=300, deadline=None)
def test_any_text_parses_or_raises_rule_error(text):
    try:
        ast = parse_query(text)
    except RuleError as e:
        assert e.position is not None and 0 <= e.position <= len(text)
    else:
        assert parse_query(format_query(ast)) == ast
