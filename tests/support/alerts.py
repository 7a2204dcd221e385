"""Sample alerts and digests for the notifier tests: a plain story and a hostile one."""

from __future__ import annotations

import datetime as dt

from monitor.clipping import make_clipping
from monitor.models import Alert, Digest, Match, MatchedTerm

UTC = dt.timezone.utc
TITLE = "Police shut down pirate IPTV service and arrest three suspects"
BODY = ("Spanish police have shut down a pirate IPTV service that sold illegal streams of "
        "football matches, and arrested three suspects in Madrid.\n\n"
        "Officers seized servers and decoders during raids on four addresses.")
HOSTILE = ("Police shut down pirate IPTV\r\nBcc: evil@example.org\r\n\r\n<script>alert('x')</script>"
           " @channel @here @everyone <!channel> <!here> <@U123ABC> [click](https://evil.example/)"
           " ![pixel](https://evil.example/p.png) **bold** " + "piracy " * 720)


def alert(title: str = TITLE, *, n: int = 1, body: str = BODY, source: str = "Piracy Daily",
          url: str = "https://news.example/raid", rule: str = "piracy-enforcement",
          score: float = 9.0, day: int = 20) -> Alert:
    clipping = make_clipping(title=title, standfirst="", source=source, url=url,
                             date=dt.date(2026, 11, day), author="Jane Reporter", body=body,
                             tags=("Europol", source))
    terms = tuple(MatchedTerm(t, "title", 0, len(t)) for t in ("shut down", "pirate", "IPTV"))
    return Alert(id=n, key=f"{n:016x}-hook", notifier="hook", clipping_id=f"{n:016x}",
                 clipping=clipping, matches=(Match(rule, score, terms, ("takedown",)),),
                 origin="feed", created_at=dt.datetime(2026, 11, day, 9, n % 60, tzinfo=UTC))


def digest(alerts: list[Alert], reason: str = "flood") -> Digest:
    return Digest(id=7, key="digest-20261128T100000-1-hook", notifier="hook",
                  alerts=tuple(alerts), reason=reason,
                  created_at=dt.datetime(2026, 11, 28, 10, tzinfo=UTC))
