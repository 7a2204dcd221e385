"""Triage in the browser, secured: marks made on the review site (Chromium clicking its buttons)
are the records of `monitor mark`; a forged POST is refused; the site answers to its own names
only, sends a content-security policy, shows article images as links, asks for its password
when one is set, and refuses to listen off loopback without one. Every request goes to a
`monitor serve` on 127.0.0.1."""

from __future__ import annotations

import base64
import http.client
import json
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.feedserver import FeedServer
from support.helpers import monitor, write_config
from support.review_helpers import ARTICLES, publish, review_config
from support.review_site import serving

from monitor.review.plugin import MARK_PATH

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# Documentation addresses (RFC 5737): written into an article, never fetched.
PIXEL = "http://198.51.100.7/pixel.png"
BANNER = "https://203.0.113.9/banner.jpg"


def request(base: str, path: str, *, method: str = "GET", body: str | None = None,
            headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    """One request to the site, headers as given (Host included), redirects not followed."""
    url = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
    sent = {"Host": url.netloc, **(headers or {})}
    if body is not None:
        sent.setdefault("Content-Type", "application/x-www-form-urlencoded")
    conn.request(method, path, body=body, headers=sent)
    response = conn.getresponse()
    response.read()  # the status and headers are what these tests look at
    return response


def page(base: str, path: str) -> tuple[http.client.HTTPResponse, str]:
    """A page of the site and its text."""
    url = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
    conn.request("GET", path, headers={"Host": url.netloc})
    response = conn.getresponse()
    return response, response.read().decode("utf-8")


def marks(base: str) -> list[dict[str, str]]:
    _, text = page(base, "/monitor/marks.json?_shape=array")
    rows: list[dict[str, str]] = json.loads(text)
    return rows


@pytest.fixture
def site(tmp_path: Path, feed_server: FeedServer) -> Iterator[tuple[str, Path]]:
    """One event told by two outlets, and a study no rule flags; the config and the site."""
    feed = publish(feed_server, "/a.xml", ["e1-a", "e1-c", "s1"], title="Piracy Daily")
    config = review_config(tmp_path, [feed])
    done = monitor(config, "run", "--once")
    assert done.returncode == 0, done.stderr
    with serving(config) as base:
        yield base, config


def clipping_of(config: Path, article_id: str) -> str:
    for line in monitor(config, "list", "--json").stdout.splitlines():
        if json.loads(line)["title"] == ARTICLES[article_id]["title"]:
            return str(json.loads(line)["id"])
    raise AssertionError(f"{article_id} not stored")


def test_mark_not_relevant_in_chromium(site: tuple[str, Path], tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), ("Debian's chromium is missing: run scripts/install-test-deps "
                               "(the README's test command does)")
    base, config = site
    flagged = clipping_of(config, "e1-a")
    assert monitor(config, "rules", "eval", "--feedback").returncode == 1  # no marks yet
    with sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(CHROMIUM), headless=True, args=FLAGS)
        try:
            tab = browser.new_page()
            tab.goto(base + "/monitor/flagged_this_week")
            tab.get_by_role("link", name=ARTICLES["e1-a"]["title"]).click()
            tab.wait_for_url("**/monitor/story?id=*")
            story_page = tab.url
            form = tab.locator(f'.monitor-mark[data-clipping="{flagged}"]')
            assert "not marked" in form.inner_text()
            form.locator("input[name=note]").fill("a court report, no action")
            form.get_by_role("button", name="not relevant").click()
            tab.wait_for_load_state()
            assert tab.url == story_page  # back where the analyst was
            assert f"{flagged[:8]} marked irrelevant (a court report, no action)" in (
                tab.locator(".message-info").inner_text())
            form = tab.locator(f'.monitor-mark[data-clipping="{flagged}"]')
            assert form.locator("strong").inner_text() == "irrelevant"
            # Another clipping, from the review table: acknowledged.
            other = clipping_of(config, "s1")
            tab.goto(base + "/monitor/review")
            tab.locator(f'.monitor-mark[data-clipping="{other}"]').get_by_role(
                "button", name="acknowledged").click()
            tab.wait_for_load_state()
            assert tab.locator(f'.monitor-mark[data-clipping="{other}"] strong').inner_text() \
                == "acknowledged"
        finally:
            browser.close()
    report = monitor(config, "rules", "eval", "--feedback", "--json")
    assert report.returncode == 0, report.stderr
    figures = json.loads(report.stdout)
    # Counted: flagged by the rules, not relevant to the analyst; acknowledged is no verdict.
    assert (figures["n"], figures["false_positives"]) == (1, [flagged])
    rows = {r["clipping_id"]: r for r in marks(base)}
    assert set(rows) == {flagged, other}
    assert (rows[flagged]["label"], rows[flagged]["note"]) == ("irrelevant",
                                                              "a court report, no action")
    # The same record `monitor mark` writes: marking it again from the command line replaces it.
    again = json.loads(monitor(config, "mark", flagged[:8], "relevant", "--json").stdout)
    assert set(again) == set(rows[flagged])


def test_a_forged_post_is_refused(site: tuple[str, Path]) -> None:
    base, config = site
    flagged = clipping_of(config, "e1-a")
    first, text = page(base, f"/monitor/clipping?id={flagged}")
    cookie = first.getheader("set-cookie", "").split(";", 1)[0]
    assert cookie.startswith("ds_csrftoken=")
    token = cookie.split("=", 1)[1]
    assert f'name="csrftoken" value="{token}"' in text
    form = {"id": flagged, "label": "irrelevant", "note": "forged"}
    for headers, fields in (
            ({"Cookie": cookie}, form),  # the browser's cookie, no token: a cross-site form
            ({}, form),  # no cookie at all (SameSite kept it back), no token
            ({}, {**form, "csrftoken": token}),  # a token seen once, without its cookie
            ({"Cookie": cookie}, {**form, "csrftoken": "x" + token})):
        refused = request(base, MARK_PATH, method="POST", body=urllib.parse.urlencode(fields),
                          headers=headers)
        assert refused.status == 403, (headers, fields)
    assert request(base, MARK_PATH).status == 405
    assert marks(base) == []
    # The form as the page gave it is accepted, and sends the browser back.
    done = request(base, MARK_PATH, method="POST", headers={"Cookie": cookie},
                   body=urllib.parse.urlencode({**form, "csrftoken": token, "note": "real"}))
    assert done.status == 303
    assert done.getheader("location") == f"/monitor/clipping?id={flagged}"
    assert [(m["clipping_id"], m["note"]) for m in marks(base)] == [(flagged, "real")]
    bad = request(base, MARK_PATH, method="POST", headers={"Cookie": cookie},
                  body=urllib.parse.urlencode({**form, "csrftoken": token, "id": "0" * 16}))
    assert bad.status == 404


def test_hosts_and_security_headers(site: tuple[str, Path]) -> None:
    base, _ = site
    port = urllib.parse.urlsplit(base).port
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", "LOCALHOST"):
        answer = request(base, "/monitor", headers={"Host": host})
        assert answer.status == 200, host
        policy = answer.getheader("content-security-policy", "")
        assert "default-src 'self'" in policy and "img-src 'self' data:" in policy
        assert answer.getheader("x-frame-options") == "DENY"
    # A rebinding page's own name, or no name at all: refused before Datasette sees it.
    for host in (f"evil.example:{port}", "127.0.0.1.evil.example", f"review.example.org:{port}",
                 ""):
        assert request(base, "/monitor/clippings.json", headers={"Host": host}).status == 421


def test_the_configured_name_is_allowed(tmp_path: Path) -> None:
    config = write_config(tmp_path, [], extra='\n[review]\nbase_url = "https://review.example.org/"\n')
    assert monitor(config, "list").returncode == 0  # creates the database
    with serving(config) as base:
        assert request(base, "/monitor", headers={"Host": "review.example.org"}).status == 200
        assert request(base, "/monitor", headers={"Host": "example.org"}).status == 421


def test_article_images_are_links(tmp_path: Path) -> None:
    clipping = (tmp_path / "seed.txt")
    clipping.write_text(f"""# Pirate IPTV service shut down after police raid
### A test story with pictures

## Information:
+ Source: Test Outlet
+ Link: [article](https://news.example.org/iptv-raid)
+ Date: November 3, 2026
+ Author: A. Reporter


## Article:
Police raided a pirate IPTV service.

![the raid]({PIXEL})

<img src="{BANNER}" alt="banner">

The operators were arrested.




#### Tags:
[[police]]

""", encoding="utf-8")
    config = write_config(tmp_path, [])
    imported = monitor(config, "import", str(clipping))
    assert imported.returncode == 0, imported.stderr
    clipping_id = json.loads(monitor(config, "list", "--json").stdout)["id"]
    with serving(config) as base:
        for path in (f"/monitor/clipping?id={clipping_id}", f"/monitor/clippings/{clipping_id}"):
            answer, text = page(base, path)
            assert answer.status == 200
            assert "<img" not in text, path
            assert (f'<a href="{PIXEL}" rel="noopener noreferrer nofollow">[image: the raid]</a>'
                    in text), path
            assert f'<a href="{BANNER}" rel="noopener noreferrer nofollow">[image: banner]</a>' \
                in text
            assert "<p>The operators were arrested.</p>" in text


def test_a_password_is_asked_of_every_request(tmp_path: Path) -> None:
    config = write_config(tmp_path, [], extra='\n[review]\npassword_env = "REVIEW_SECRET"\n')
    assert monitor(config, "list").returncode == 0
    secret = "correct horse battery staple"
    with serving(config, env={"REVIEW_SECRET": secret}) as base:
        for path in ("/monitor", "/monitor/clippings.json", MARK_PATH, "/-/versions.json"):
            refused = request(base, path)
            assert refused.status == 401, path
            assert refused.getheader("www-authenticate", "").startswith('Basic realm="monitor')
        basic = base64.b64encode(f"analyst:{secret}".encode()).decode()
        assert request(base, "/monitor", headers={"Authorization": f"Basic {basic}"}).status == 200
        assert request(base, "/monitor", headers={"Authorization": f"Bearer {secret}"}).status \
            == 200
        wrong = base64.b64encode(b"analyst:guess").decode()
        assert request(base, "/monitor", headers={"Authorization": f"Basic {wrong}"}).status \
            == 401
        assert request(base, "/monitor", headers={"Authorization": "Bearer "}).status == 401


def test_off_loopback_needs_a_password(tmp_path: Path) -> None:
    """Refused before anything listens: the command returns instead of serving."""
    config = write_config(tmp_path, [])
    assert monitor(config, "list").returncode == 0
    for args in (("--host", "0.0.0.0"), ("--host", "::"), ("--host", "192.0.2.10")):
        done = monitor(config, "serve", *args, "--port", "1")
        assert done.returncode == 1, args
        assert f"not serving on {args[1]}: the review site listens on any address but " \
               "loopback only with a password" in done.stderr
    in_file = write_config(tmp_path, [], extra='\n[review]\nhost = "0.0.0.0"\n')
    assert "not serving on 0.0.0.0" in monitor(in_file, "serve", "--port", "1").stderr
    unset = write_config(tmp_path, [], extra='\n[review]\npassword_env = "REVIEW_UNSET_SECRET"\n')
    done = monitor(unset, "serve", "--host", "0.0.0.0", "--port", "1",
                   env={"REVIEW_UNSET_SECRET": ""})
    assert done.returncode == 1
    assert "REVIEW_UNSET_SECRET is not set or empty" in done.stderr
    both = write_config(tmp_path, [], extra='\n[review]\npassword = "hunter2"\n')
    refused = monitor(both, "serve")
    assert refused.returncode == 1 and "never put the password in the config" in refused.stderr
