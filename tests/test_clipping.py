"""Tests of monitor.clipping: round trips, the seed byte for byte, normalisation, errors."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.parse.identity import story_key as clipping_key
from monitor.clipping import (filename, format_date, make_clipping, normalise,
                              parse, render)
from monitor.errors import ClippingError
from monitor.models import Clipping

SEED = Path(__file__).parent.parent / "seeds" / "000_34fcc89c45c3ecef.txt"

# Pieces that could confuse a naive parser or break the line structure.
TRICKY = [
    "\n", "\r", "\r\n", "\n\n\n", "#", "# ", "### ", "+", "+ ", "[[", "]]", "[", "]", ">", "> ",
    "(", ")", "\\", "%", " ", "\t", "\xa0", "\u2028", "\x85", "\x0b", "\x00",
    "## Article:", "#### Tags:", "## Information:", "+ Author: x", "+ Source: y",
    "+ Date: October 19, 2021", "+ Link: [article](http://x/)", "[[tag]] [[tag]]",
    "\n#### Tags:\n", "\n## Article:\n", "\n> quoted\n>\n",
]
nasty = st.lists(st.sampled_from(TRICKY) | st.text(max_size=8), max_size=12).map("".join)
fields = st.fixed_dictionaries({
    "title": nasty,
    "standfirst": nasty,
    "source": nasty,
    "url": nasty | st.just("https://example.com/a b(c)?q=1"),
    "date": st.none() | st.dates(),
    "author": nasty,
    "body": nasty,
    "tags": st.lists(nasty, max_size=5),
})
clippings = fields.map(lambda f: make_clipping(**f))


def _as_fields(c: Clipping) -> dict[str, object]:
    return {f.name: getattr(c, f.name) for f in dataclasses.fields(c)}


# -- 1. round trip ---------------------------------------------------------------------------

@settings(max_examples=500, deadline=None)
@given(clippings)
def test_parse_render_round_trip(c: Clipping) -> None:
    assert parse(render(c)) == c


@settings(deadline=None)
@given(clippings)
def test_round_trip_with_crlf_line_endings(c: Clipping) -> None:
    assert parse(render(c).replace("\n", "\r\n")) == c


@settings(deadline=None)
@given(clippings)
def test_make_clipping_is_idempotent(c: Clipping) -> None:
    assert make_clipping(**_as_fields(c)) == c
    assert normalise(c) == c


@settings(deadline=None)
@given(clippings)
def test_normalised_fields_cannot_break_structure(c: Clipping) -> None:
    for value in (c.title, c.standfirst, c.source, c.url, c.author, *c.tags):
        assert "\n" not in value and "\r" not in value and value == value.strip()
    assert not any(ch in c.url for ch in "()<>\\") and not any(ch.isspace() for ch in c.url)
    for tag in c.tags:
        assert tag and "[[" not in tag and "]]" not in tag
    assert len(set(c.tags)) == len(c.tags)
    assert "\r" not in c.body and c.body == c.body.lstrip("\n")
    lines = render(c).split("\n")
    assert lines[0] == f"# {c.title}" and lines[7] == f"+ Author: {c.author}"
    assert lines[-3:] == ["#### Tags:", " ".join(f"[[{t}]]" for t in c.tags), ""]


# -- 2. the seed -----------------------------------------------------------------------------

@pytest.fixture
def seed_bytes() -> bytes:
    return SEED.read_bytes()


def test_seed_renders_back_byte_for_byte(seed_bytes: bytes) -> None:
    assert render(parse(seed_bytes.decode("utf-8"))).encode("utf-8") == seed_bytes


def test_seed_fields(seed_bytes: bytes) -> None:
    c = parse(seed_bytes.decode("utf-8"))
    assert c.title == "ACE takes down Electro TV Sat pirate streaming service"
    assert c.standfirst == ""
    assert c.source == "Bleeping Computer"
    assert c.url == ("https://www.bleepingcomputer.com/news/technology/"
                     "ace-takes-down-electro-tv-sat-pirate-streaming-service/")
    assert c.date == dt.date(2021, 10, 19)
    assert c.author == "Bill Toulas"
    assert c.tags == ("CANAL+", "Bleeping Computer")
    assert c.body.startswith("![pirate flag](https://www.bleepstatic.com/content/hl-images/")
    assert "\n> \n> CANAL+ Group has fought for years" in c.body
    assert "\xa0" in c.body  # non-breaking spaces inside lines are kept
    assert c.body.endswith('call out "outlaw" regions.\xa0')


def test_seed_with_crlf_parses_the_same(seed_bytes: bytes) -> None:
    text = seed_bytes.decode("utf-8")
    assert parse(text.replace("\n", "\r\n")) == parse(text)


def test_seed_filename() -> None:
    assert filename("34fcc89c45c3ecef", 0) == SEED.name


# -- 3. normalisation, tables ----------------------------------------------------------------

@pytest.mark.parametrize(("field", "given_", "expected"), [
    ("title", "  Hello\nworld  ", "Hello world"),
    ("title", "a\r\n\r\nb", "a b"),
    ("title", "a\x00\x1f\x7fb", "a b"),
    ("title", "a\u2028b\x85c", "a b c"),
    ("title", "\xa0 padded \xa0", "padded"),
    ("title", "## Article:", "## Article:"),
    ("author", "Jane\n+ Author: x", "Jane + Author: x"),
    ("source", "\tBleeping\tComputer\n", "Bleeping Computer"),
    ("standfirst", "\n\n", ""),
    ("url", " https://x.org/a b ", "https://x.org/a%20b"),
    ("url", "https://x.org/a)(b", "https://x.org/a%29%28b"),
    ("url", "https://x.org/<a>\\", "https://x.org/%3Ca%3E%5C"),
    ("url", "https://x.org/a\xa0b", "https://x.org/a%C2%A0b"),
    ("url", "https://x.org/a%20b", "https://x.org/a%20b"),
    ("body", "\r\n\n  \nfirst\r\nsecond\rthird\n\n \xa0\n", "first\nsecond\nthird"),
    ("body", "  indented\xa0 \n\n> quote\n>\n", "  indented\xa0 \n\n> quote\n>"),
    ("body", "x\n#### Tags:\n[[y]]", "x\n#### Tags:\n[[y]]"),
    ("body", " \n\t\n", ""),
])
def test_normalise_field(field: str, given_: str, expected: str) -> None:
    assert getattr(make_clipping(**{"title": "t", field: given_}), field) == expected


@pytest.mark.parametrize(("tags", "expected"), [
    (["CANAL+", "Bleeping Computer"], ("CANAL+", "Bleeping Computer")),
    ([" a ", "a", "b", "a"], ("a", "b")),
    (["[[a]]", "", "  ", "[[]]"], ("a",)),
    (["x\ny", "x y"], ("x y",)),
    (["[]][", "[[[", "]]]]", "]]]"], ("[", "]")),  # "[]][" -> "[[" -> ""
    (["a]", "[b"], ("a]", "[b")),
])
def test_normalise_tags(tags: list[str], expected: tuple[str, ...]) -> None:
    c = make_clipping(title="t", tags=tags)
    assert c.tags == expected
    assert parse(render(c)) == c


def test_datetime_becomes_date() -> None:
    c = make_clipping(title="t", date=dt.datetime(2021, 10, 19, 23, 59, tzinfo=dt.UTC))
    assert c.date == dt.date(2021, 10, 19) and type(c.date) is dt.date


@pytest.mark.parametrize(("date", "text"), [
    (dt.date(2021, 10, 19), "October 19, 2021"),
    (dt.date(2024, 1, 5), "January 5, 2024"),
    (dt.date(1999, 12, 31), "December 31, 1999"),
    (dt.date(5, 2, 1), "February 1, 5"),
    (None, ""),
])
def test_format_date(date: dt.date | None, text: str) -> None:
    assert format_date(date) == text


def test_render_minimal_clipping_exactly() -> None:
    assert render(make_clipping(title="T")) == (
        "# T\n### \n\n## Information:\n+ Source: \n+ Link: [article]()\n+ Date: \n"
        "+ Author: \n\n\n## Article:\n\n\n\n\n\n#### Tags:\n\n")


def test_parse_accepts_trimmed_trailing_spaces() -> None:
    c = make_clipping(title="T", body="b", tags=["x"])
    trimmed = "\n".join(line.rstrip() for line in render(c).split("\n"))
    assert parse(trimmed) == c
    assert parse(render(c).rstrip("\n")) == c  # no final newline


# -- errors ----------------------------------------------------------------------------------

GOOD = render(make_clipping(title="T", source="S", url="http://x/", date=dt.date(2021, 10, 19),
                            author="A", body="body", tags=["t"]))


def _replace_line(index: int, new: str) -> str:
    lines = GOOD.split("\n")
    lines[index] = new
    return "\n".join(lines)


@pytest.mark.parametrize(("text", "message"), [
    ("", "empty"),
    ("  \n\r\n", "empty"),
    ("just some words", "too short"),
    ("\n".join(GOOD.split("\n")[:8]), "too short"),
    (_replace_line(0, "T"), "line 1: expected the title"),
    (_replace_line(1, "standfirst"), "line 2: expected the standfirst"),
    (_replace_line(2, "oops"), "line 3: expected a blank line"),
    (_replace_line(3, "## Info:"), "line 4: expected '## Information:'"),
    (_replace_line(4, "Source: S"), "line 5: expected the source"),
    (_replace_line(5, "+ Link: http://x/"), "line 6: expected the link"),
    (_replace_line(5, "+ Link: [article](http://x/"), "line 6: expected the link to end"),
    (_replace_line(6, "+ Date: 19/10/2021"), "line 7: expected a date"),
    (_replace_line(6, "+ Date: Octember 19, 2021"), "line 7: expected a date"),
    (_replace_line(6, "+ Date: october 19, 2021"), "line 7: expected a date"),
    (_replace_line(6, "+ Date: February 30, 2021"), "line 7: impossible date"),
    (_replace_line(6, "Date: October 19, 2021"), "line 7: expected the date"),
    (_replace_line(7, "+ Writer: A"), "line 8: expected the author"),
    (_replace_line(10, "## Body:"), "line 11: expected '## Article:'"),
    (GOOD.replace("#### Tags:", "#### Labels:"), "no '#### Tags:' line"),
    (GOOD.replace("[[t]]", "t"), "expected tags like"),
    (GOOD.replace("[[t]]", "[[t]] x"), "expected tags like"),
    (GOOD + "trailing junk\n", "unexpected text after the tags line"),
])
def test_parse_rejects(text: str, message: str) -> None:
    with pytest.raises(ClippingError, match=message):
        parse(text)


# -- file names and keys ---------------------------------------------------------------------

@pytest.mark.parametrize(("hex_", "n", "expected"), [
    ("34fcc89c45c3ecef", 0, "000_34fcc89c45c3ecef.txt"),
    ("0123456789abcdef", 42, "042_0123456789abcdef.txt"),
    ("0123456789abcdef", 999, "999_0123456789abcdef.txt"),
])
def test_filename(hex_: str, n: int, expected: str) -> None:
    assert filename(hex_, n) == expected


@pytest.mark.parametrize(("hex_", "n"), [
    ("34FCC89C45C3ECEF", 0), ("34fcc89c45c3ece", 0), ("34fcc89c45c3ecefg", 0),
    ("not hex at all!!", 0), ("34fcc89c45c3ecef", -1),
])
def test_filename_rejects(hex_: str, n: int) -> None:
    with pytest.raises(ValueError):
        filename(hex_, n)


@pytest.mark.parametrize(("url", "key"), [
    ("", "e3b0c44298fc1c14"),  # sha256("") = e3b0c442 98fc1c14 ...
    ("abc", "ba7816bf8f01cfea"),  # sha256("abc") = ba7816bf 8f01cfea ...
])
def test_clipping_key_known_vectors(url: str, key: str) -> None:
    assert clipping_key(url) == key


@given(st.text())
def test_clipping_key_shape(url: str) -> None:
    key = clipping_key(url)
    assert len(key) == 16 and all(ch in "0123456789abcdef" for ch in key)
    assert filename(key, 7) == f"007_{key}.txt"
