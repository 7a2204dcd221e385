"""The review site's gate and plugin as pure functions: Host names, the password check, images
as links, the mark form (every value from the database escaped)."""

from __future__ import annotations

import base64

import pytest

from monitor.review.guard import allowed_hosts, authorized, host_name
from monitor.review.plugin import images_as_links, mark_form
from monitor.review.site import is_loopback


@pytest.mark.parametrize(("header", "name"), [
    ("127.0.0.1:8001", "127.0.0.1"), ("LocalHost", "localhost"), ("[::1]:8001", "[::1]"),
    ("[::1]", "[::1]"), ("::1", "::1"), ("review.example.org:443", "review.example.org"),
    ("[::1", ""), ("", "")])
def test_host_name(header: str, name: str) -> None:
    assert host_name(header) == name


def test_allowed_hosts() -> None:
    assert allowed_hosts("", "127.0.0.1") == {"127.0.0.1", "localhost", "[::1]"}
    assert allowed_hosts("https://user@Review.Example.org:8443/site/", "0.0.0.0") == {
        "127.0.0.1", "localhost", "[::1]", "review.example.org"}
    assert allowed_hosts("", "192.0.2.10") >= {"192.0.2.10"}
    assert allowed_hosts("", "2001:db8::1") >= {"[2001:db8::1]"}
    assert allowed_hosts("", "::") == {"127.0.0.1", "localhost", "[::1]"}


def _basic(credentials: str) -> str:
    return "Basic " + base64.b64encode(credentials.encode()).decode()


@pytest.mark.parametrize(("header", "ok"), [
    (_basic("analyst:s3cret"), True), (_basic(":s3cret"), True), (_basic("s3cret:"), False),
    (_basic("analyst:s3cret2"), False), ("Bearer s3cret", True), ("bearer  s3cret ", True),
    ("Bearer s3cre", False), ("Basic !!!", False), ("Digest s3cret", False), ("", False),
    ("s3cret", False)])
def test_authorized(header: str, ok: bool) -> None:
    assert authorized(header, "s3cret") is ok


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("[::1]", True),
    ("localhost", True), ("0.0.0.0", False), ("::", False), ("192.0.2.1", False),
    ("review.example.org", False)])
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_images_as_links() -> None:
    html = ('<p>a <img alt="the &quot;raid&quot;" src="http://198.51.100.7/p.png?a=1&amp;b=2" '
            'style="max-width: 100%"> b <img src="https://203.0.113.9/x.jpg"> <img alt="x"></p>')
    assert images_as_links(html) == (
        '<p>a <a href="http://198.51.100.7/p.png?a=1&amp;b=2" rel="noopener noreferrer nofollow">'
        '[image: the &quot;raid&quot;]</a> b <a href="https://203.0.113.9/x.jpg" '
        'rel="noopener noreferrer nofollow">[image: https://203.0.113.9/x.jpg]</a> '
        '[image: x]</p>')


def test_mark_form_escapes() -> None:
    form = str(mark_form('abc"><script>', "<b>relevant</b>", 'tok"en'))
    assert "<script>" not in form and "<b>" not in form
    assert 'value="abc&quot;&gt;&lt;script&gt;"' in form
    assert 'name="csrftoken" value="tok&quot;en"' in form
    assert [part.split('"')[0] for part in form.split('name="label" value="')[1:]] == [
        "relevant", "irrelevant", "acknowledged"]
