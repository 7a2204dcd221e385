"""monitor.analysis: what a worker process computes from a page is what the main process would
have computed from the clipping (the same language, the same grouping signature, the page's
bytes kept whole)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import hashlib
import pickle
from pathlib import Path

import pytest

from monitor.pipeline.analysis import UNSET, analyse_page
from monitor.clipping import make_clipping
from monitor.errors import ExtractError
from monitor.decide.grouping import signature
from monitor.parse.language import guess_language
from monitor.models import FetchResult

PAGES = Path(__file__).resolve().parents[1] / "data" / "pages"


@pytest.mark.parametrize("name", ["anarc.at.cdpath.html", "hackernoon.com.scrape.html"])
@pytest.mark.parametrize("headline", ["", "A feed's own headline, longer than the page's"])
def test_analysis_matches_what_the_clipping_gives(name: str, headline: str) -> None:
    content = (PAGES / name).read_bytes()
    page = FetchResult(url=f"http://127.0.0.1/{name}", status=200, content=content,
                       headers={"content-type": "text/html; charset=utf-8"})
    analysis = analyse_page(page, headline)
    clipping = make_clipping(title=headline or analysis.article.title, body=analysis.article.body)
    at = dt.datetime(2026, 11, 28, 9, tzinfo=dt.timezone.utc)
    assert analysis.signature.at == UNSET
    assert (dataclasses.replace(analysis.signature, at=at)
            == signature(clipping.title, clipping.body, at))
    assert analysis.lang == guess_language(f"{clipping.title}\n{clipping.body}") == "en"
    assert gzip.decompress(analysis.compressed) == content
    assert analysis.sha256 == hashlib.sha256(content).hexdigest()
    assert pickle.loads(pickle.dumps(analysis)) == analysis  # it crosses a process boundary


def test_a_page_without_an_article_raises_extract_error() -> None:
    page = FetchResult(url="http://127.0.0.1/empty", status=200, content=b"<html><body></body></html>")
    with pytest.raises(ExtractError):
        analyse_page(page, "A headline")
