"""monitor.safetext: the escape every output shares, CSV cells, masked credentials. Pure."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.safetext import csv_cell, escape, mask_credentials

UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


@given(st.text())
def test_escaped_json_reads_back_the_same_and_holds_nothing_unsafe(text: str) -> None:
    line = escape(json.dumps({"title": text}, ensure_ascii=False))
    assert not UNSAFE.search(line)
    assert json.loads(line) == {"title": text}


@given(st.text())
def test_escaped_prose_keeps_lines_and_tabs_only(text: str) -> None:
    shown = escape(text)
    assert not UNSAFE.search(shown)
    assert shown.count("\n") == text.count("\n") and shown.count("\t") == text.count("\t")


@pytest.mark.parametrize("value, cell", [
    ('=HYPERLINK("http://evil/","x")', '\'=HYPERLINK("http://evil/","x")'),
    ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
    ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"),
    ("\r=1", "\\u000d=1"),  # escaped first: a backslash starts no formula
    ("\uff1d1+1", "'\uff1d1+1"),
    ("Police raid = news", "Police raid = news"), ("", ""),
    ("a\u202eb", "a\\u202eb"),
])
def test_csv_cells(value: str, cell: str) -> None:
    assert csv_cell(value) == cell


@pytest.mark.parametrize("text, shown", [
    ("feed http://reader:s3cret@host/feed: 401", "feed http://reader:***@host/feed: 401"),
    ("https://tok3n@hooks.example/x", "https://***@hooks.example/x"),
    ("http://u:p@ss@host/x", "http://u:***@host/x"),  # an unescaped @ in the password
    ("http://host/path@x and mailto:a@b", "http://host/path@x and mailto:a@b"),
    ('{"url": "http://host/", "to": "a@b"}', '{"url": "http://host/", "to": "a@b"}'),
    ("no URL at all", "no URL at all"),
])
def test_mask_credentials(text: str, shown: str) -> None:
    assert mask_credentials(text) == shown
