"""Saved searches end to end on real parts: news-search feeds shaped like Google News' and Bing
News' (tests/data/search), served on 127.0.0.1 as custom engines, with wrapped links; the
publishers' pages on 127.0.0.1 too; a webhook receiver; `monitor run --once`. Every link ends
at the publisher, and a story also carried by the publisher's own feed is one clipping and one
alert. Links that carry the publisher's URL are unwrapped offline: the engines' real hosts in
them are never asked."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from support.feedserver import article_page, rss
from support.helpers import monitor, write_config
from support.hostile import HostileServer
from support.searchfeeds import search_feed
from support.servers import WebhookReceiver

from monitor.pipeline.sources import RESOLVE_MAX

STORIES = {
    "police-arrest-three": ("Police arrest three over pirate IPTV service", "Piracy Daily", [
        "Police arrested three men who ran a pirate IPTV service selling illegal streams of "
        "Premier League matches to 20,000 subscribers across the north of England.",
        "Officers seized servers and decoders in raids on two addresses; the suspects face "
        "charges of copyright infringement and money laundering."]),
    "illegal-streaming-network": ("Illegal streaming network dismantled in joint operation",
                                  None, [
        "Investigators in four countries dismantled an illegal streaming network that "
        "rebroadcast pay-TV sports channels, shutting down its servers and seizing its domains.",
        "Two administrators were arrested; the operation was coordinated by Eurojust after "
        "complaints by broadcasters about piracy of live football."]),
    "demantelement-iptv": ("Démantèlement d'un réseau IPTV pirate : trois arrestations",
                           "Le Courrier", [
        "La gendarmerie a démantelé un réseau IPTV illégal qui diffusait les chaînes payantes à "
        "plus de 8 000 abonnés, et trois personnes ont été interpellées.",
        "Les enquêteurs ont saisi des serveurs et des décodeurs ; les suspects sont poursuivis "
        "pour contrefaçon et piratage audiovisuel."]),
    "site-streaming-ferme": ("Un site de streaming illégal fermé par la justice", "Piracy Daily", [
        "Le tribunal judiciaire de Paris a ordonné le blocage d'un site de streaming illégal "
        "de matchs de football, à la demande de la ligue et de l'Arcom.",
        "Les fournisseurs d'accès doivent bloquer le site pirate et ses sites miroirs pendant "
        "dix-huit mois."]),
    "alert-story": ("Operators of pirate IPTV service arrested", "Piracy Daily", [
        "Police have arrested the operators of a pirate IPTV service that sold subscriptions "
        "to thousands of customers, following an investigation by the anti-piracy coalition.",
        "Servers hosting the illegal streams were seized and taken offline during the raids."]),
}


def publish(server: HostileServer) -> None:
    for slug, (title, site, paragraphs) in STORIES.items():
        if site:
            page = article_page(title, paragraphs, site=site)
        else:  # a page naming no site: the source is the one the search feed names
            page = (f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1>"
                    + "".join(f"<p>{p}</p>" for p in paragraphs) + "</article></body></html>")
        server.put(f"/stories/{slug}", page, "text/html; charset=utf-8")
    empty = '<?xml version="1.0"?><rss version="2.0"><channel><title>x</title></channel></rss>'
    base = server.base
    server.put("/google/en/rss/search", search_feed(
        "google-news-search.xml", base=base, engine="https://news.google.com",
        redirect=server.url("/found/stories/illegal-streaming-network")))
    server.put("/google/fr/rss/search", empty)
    server.put("/bing/fr/news/search", search_feed("bing-news-search.xml", base=base,
                                               engine="https://www.bing.com"))
    server.put("/bing/en/news/search", empty)
    server.put("/alerts/feed.xml", search_feed("google-alerts.xml", base=base,
                                           engine="https://www.google.com"),
               "application/atom+xml")


def search(base: str, *, locales: str = '"en-US", "fr-FR"', bing: bool = True) -> str:
    """A [[searches]] table whose engines are the server at ``base``, shaped as Google's and
    Bing's search feeds."""
    engines = [f"{base}/google/{{lang}}/rss/search?q={{query}}&hl={{hl}}&gl={{country}}"
               "&ceid={country}:{lang}"]
    if bing:
        engines.append(f"{base}/bing/{{lang}}/news/search?q={{query}}&format=rss"
                       "&setlang={locale}&cc={country}")
    return (f'\n[[searches]]\nquery = "pirate IPTV arrest"\nname = "IPTV arrests"\n'
            f"locales = [{locales}]\nengines = {json.dumps(engines)}\n")


def rows(tmp_path: Path, sql: str) -> list[sqlite3.Row]:
    conn = sqlite3.connect(tmp_path / "monitor.db")
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_a_search_in_two_languages_ends_at_the_publishers_once_each(
        tmp_path: Path, hostile_server: HostileServer,
        webhook_receiver: WebhookReceiver) -> None:
    server = hostile_server
    publish(server)
    own_feed = server.url("/publisher/feed.xml")  # 404 on the first run
    config = write_config(tmp_path, [server.url("/alerts/feed.xml"), own_feed],
                          webhook_url=webhook_receiver.url,
                          extra=search(server.base))

    listing = monitor(config, "feeds", "--json")
    kinds = [(r["kind"], r["name"]) for r in map(json.loads, listing.stdout.splitlines())]
    assert kinds == [("feed", "Feed 0"), ("feed", "Feed 1"),
                     ("search", "IPTV arrests (127.0.0.1 en-US)"),
                     ("search", "IPTV arrests (127.0.0.1 fr-FR)"),
                     ("search", "IPTV arrests (127.0.0.1 en-US)"),
                     ("search", "IPTV arrests (127.0.0.1 fr-FR)")]

    first = monitor(config, "run", "--once")
    assert first.returncode == 0, first.stderr
    assert "6 feeds polled" in first.stdout and "5 new clippings" in first.stdout, first.stdout
    clippings = {r["link"]: r for r in rows(tmp_path, "select * from clippings")}
    assert set(clippings) == {server.url(f"/stories/{slug}") for slug in STORIES}
    for slug, (title, site, paragraphs) in STORIES.items():
        row = clippings[server.url(f"/stories/{slug}")]
        assert row["title"] == title  # without the " - Publisher" Google appends
        assert row["source"] == (site or "Le Courrier")
        assert row["origin"] == "page" and paragraphs[0] in row["body"]
    # The opaque link was asked once where it leads; the others never left this machine.
    assert server.hits["/found/stories/illegal-streaming-network"] == 1
    assert all(server.hits[f"/stories/{slug}"] == 1 for slug in STORIES)

    flagged = {r["link"] for r in rows(tmp_path, "select link from clippings where flagged = 1")}
    alerts = webhook_receiver.wait_for(len(flagged))
    alerted = [a.json()["clipping"]["url"] for a in alerts]
    assert server.url("/stories/police-arrest-three") in flagged
    assert sorted(alerted) == sorted(flagged)

    # The publisher's own feed carries the same story, with its tracking parameters: it is
    # the story already stored and alerted, not a second one.
    server.put("/publisher/feed.xml", rss("Piracy Daily", [{
        "title": STORIES["police-arrest-three"][0],
        "link": server.url("/stories/police-arrest-three?utm_source=rss&utm_medium=feed")}]))
    second = monitor(config, "run", "--once")
    assert second.returncode == 0, second.stderr
    assert "0 new clippings" in second.stdout and "0 alerts sent" in second.stdout, second.stdout
    assert len(rows(tmp_path, "select * from clippings")) == 5
    assert len(webhook_receiver.requests) == len(flagged)
    assert server.hits["/stories/police-arrest-three"] == 1


def test_the_publishers_feed_and_a_search_in_one_cycle_give_one_clipping(
        tmp_path: Path, hostile_server: HostileServer,
        webhook_receiver: WebhookReceiver) -> None:
    server = hostile_server
    publish(server)
    own_feed = server.put("/publisher/feed.xml", rss("Piracy Daily", [{
        "title": STORIES["police-arrest-three"][0],
        "link": server.url("/stories/police-arrest-three")}]))
    config = write_config(tmp_path, [own_feed], webhook_url=webhook_receiver.url,
                          extra=search(server.base, locales='"en-US"', bing=False))
    run = monitor(config, "run", "--once")
    assert run.returncode == 0, run.stderr
    assert "2 feeds polled" in run.stdout and "2 new clippings" in run.stdout, run.stdout
    links = [r["link"] for r in rows(tmp_path, "select link from clippings")]
    assert sorted(links) == sorted(server.url(f"/stories/{s}") for s in
                                   ("police-arrest-three", "illegal-streaming-network"))
    alerts = webhook_receiver.wait_for(2)
    urls = [a.json()["clipping"]["url"] for a in alerts]
    assert urls.count(server.url("/stories/police-arrest-three")) == 1
    assert server.hits["/stories/police-arrest-three"] == 1


def test_an_engine_link_that_leads_nowhere_stays_and_the_feed_goes_on(
        tmp_path: Path, hostile_server: HostileServer) -> None:
    server = hostile_server
    server.put("/google/en/rss/search", rss("pirate IPTV - Google News", [
        {"title": "Pirate IPTV reseller fined - Piracy Daily", "guid": "CBMiGone",
         "link": server.url("/status/404")},
        {"title": "Streaming pirates sentenced - Piracy Daily", "guid": "CBMiFound",
         "link": server.url("/found/stories/sentenced")}]))
    server.put("/stories/sentenced", article_page("Streaming pirates sentenced", [
        "Two men who ran a pirate streaming site were sentenced to prison on Monday for "
        "copyright infringement after a private prosecution brought by the broadcasters."]),
        "text/html; charset=utf-8")
    config = write_config(tmp_path, [], extra=search(server.base, locales='"en-US"', bing=False))
    run = monitor(config, "run", "--once")
    assert run.returncode == 0, run.stderr
    assert "2 new clippings" in run.stdout and "0 errors" in run.stdout, run.stdout
    links = {r["link"]: r["origin"] for r in rows(tmp_path, "select link, origin from clippings")}
    # The link that does not redirect stays the engine's; its page unusable, the feed's text.
    assert links == {server.url("/status/404"): "feed", server.url("/stories/sentenced"): "page"}
    again = monitor(config, "run", "--once")
    assert "0 new clippings" in again.stdout, again.stdout
    assert server.hits["/status/404"] == 2  # asked once where it leads, fetched once as a page


def test_a_feed_of_thousands_of_engine_links_costs_bounded_requests(
        tmp_path: Path, hostile_server: HostileServer) -> None:
    server = hostile_server
    items = [{"title": f"Item {n}", "guid": f"CBMi{n}", "link": server.url(f"/found/stories/{n}")}
             for n in range(RESOLVE_MAX + 50)]
    server.put("/google/en/rss/search", rss("many - Google News", items))
    # the bound on engine links asked is what is tested, not the poll's on new entries
    config = write_config(tmp_path, [], fetch_pages=False,
                          extra=search(server.base, locales='"en-US"', bing=False),
                          max_new_per_poll=10 * RESOLVE_MAX)
    run = monitor(config, "run", "--once")
    assert run.returncode == 0, run.stderr
    assert f"{RESOLVE_MAX + 50} new clippings" in run.stdout, run.stdout
    asked = sum(n for path, n in server.hits.items() if path.startswith("/found/"))
    assert asked == RESOLVE_MAX
    links = [r["link"] for r in rows(tmp_path, "select link from clippings")]
    assert sum("/found/" not in link for link in links) == RESOLVE_MAX
    assert "the rest keep the engine's link" in run.stderr
