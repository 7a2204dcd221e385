"""A rule's ``lang:`` scope sees the language guessed from the story (README: "Rules"), in a
real cycle: a feed on 127.0.0.1, `monitor run --once`, the stored rules read back."""

from __future__ import annotations

import json
from pathlib import Path

from support.feedserver import FeedServer, rss
from support.helpers import monitor, write_config

from monitor.match.matcher import document

FRENCH = {
    "title": "L'Arcom ordonne le blocage de nouveaux sites de streaming illégaux",
    "summary": "Le tribunal judiciaire de Paris a ordonné aux fournisseurs d'accès de bloquer "
               "les sites qui diffusent les matchs sans autorisation, à la demande de la ligue. "
               "Les abonnés qui tentent d'y accéder voient une page de l'Arcom.",
}
ENGLISH = {
    "title": "Arcom orders the blocking of more illegal streaming sites",
    "summary": "The Paris court ordered internet providers to block the sites that show the "
               "matches without a licence, at the request of the league. Subscribers who try "
               "to reach them see a page from the regulator.",
}


def test_guessed_language_on_the_matchers_document() -> None:
    assert document(FRENCH["title"], FRENCH["summary"]).lang == "fr"
    assert document(ENGLISH["title"], ENGLISH["summary"]).lang == "en"


def test_a_lang_scoped_rule_fires_on_the_french_story_only(tmp_path: Path,
                                                           feed_server: FeedServer) -> None:
    items = [{**story, "link": feed_server.url(f"/story/{n}")}
             for n, story in enumerate((FRENCH, ENGLISH))]
    url = feed_server.put("/feed.xml", rss("Blocking news", items), "application/rss+xml")
    config = write_config(tmp_path, [url], fetch_pages=False, extra="""
[[rules]]
name = "arcom-fr"
query = 'Arcom AND lang:fr'
min_score = 1
""")
    done = monitor(config, "run", "--once")
    assert done.returncode == 0, done.stderr
    listing = [json.loads(line) for line in monitor(config, "list", "--json").stdout.splitlines()]
    rules = {item["title"]: item["rules"] for item in listing}
    assert "arcom-fr" in rules[FRENCH["title"]]
    assert "arcom-fr" not in rules[ENGLISH["title"]]
