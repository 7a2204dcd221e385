"""service.metrics.error_kind: the kind label each poll failure is counted under."""

from __future__ import annotations

import pytest

from monitor.errors import BrokenListing, FeedError, FetchError, ParseError
from monitor.service.metrics import error_kind


@pytest.mark.parametrize(("error", "kind"), [
    (FetchError("HTTP 503", status=503), "feed_http"),
    (FetchError("timed out"), "feed_transport"),
    (ParseError("not a feed"), "feed_parse"),
    (BrokenListing("the selector 'ul' matches nothing"), "page_broken"),
    (FeedError("refused"), "feed_transport"),
    (RuntimeError("bug"), "unexpected"),
])
def test_each_failure_has_its_kind(error: Exception, kind: str) -> None:
    assert error_kind(error) == kind
