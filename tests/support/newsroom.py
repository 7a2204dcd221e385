"""A police force's newsroom without a feed, as such sites are built: a header with its menu,
breadcrumbs, the list of press releases (headline, date, "Read more"), pagination, a sidebar,
share buttons and a footer. Only the press releases are stories."""

from __future__ import annotations

import datetime as dt

from support.feedserver import article_page

PRESS = "/press-office/releases"  # the listing page's path


def release_path(slug: str) -> str:
    return f"{PRESS}/{slug}"


def item_date(n: int) -> dt.date:
    """The date the listing shows for its ``n``th item: today, the day before...."""
    return dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=n)


def newsroom(items: list[tuple[str, str]], *, layout: str = "list",
             partner: str = "https://partner.example/press/joint-operation") -> str:
    """The listing page with ``items`` (slug, headline), newest first, each dated (today, then
    a day earlier each). ``layout`` "list" is the site as the selector was written for;
    "cards" is the site after a redesign."""
    if layout == "list":
        rows = "\n".join(
            f"""<li class="press-item"><article><header><h3><a href="{release_path(slug)}">{title}</a></h3>
<time datetime="{item_date(n).isoformat()}">{item_date(n):%d %B %Y}</time></header>
<p>Summary of the release.</p><a class="more" href="{release_path(slug)}?utm_source=list">Read more</a>
<div class="share-buttons"><a href="https://www.facebook.com/sharer/sharer.php?u=https://police.example{release_path(slug)}">Share</a>
<a href="https://twitter.com/intent/tweet?url=https://police.example{release_path(slug)}">Tweet</a></div></article></li>"""
            for n, (slug, title) in enumerate(items))
        listing = f'<ul class="press-list">\n{rows}\n</ul>'
    else:
        rows = "\n".join(f"""<div class="card"><span class="card-title">{title}</span>
<button data-href="{release_path(slug)}">Open</button></div>""" for slug, title in items)
        listing = f'<section class="cards">\n{rows}\n</section>'
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Press releases | County Police</title></head>
<body><a class="skip-link" href="#content">Skip to content</a>
<header class="site-header"><a href="/"><img src="/logo.png" alt="County Police"></a>
<nav class="main-menu"><ul><li><a href="/">Home</a></li><li><a href="/about">About us</a></li>
<li><a href="{PRESS}">Press office</a></li><li><a href="/contact">Contact</a></li></ul></nav></header>
<div class="breadcrumbs"><a href="/">Home</a> &gt; <a href="/press-office">Press office</a></div>
<main id="content"><h1>Press releases</h1>
<p>Latest news from the County Police. See also our <a href="{partner}">joint operation with partners</a>.</p>
{listing}
<nav class="pagination"><a href="{PRESS}?page=1">1</a> <a href="{PRESS}?page=2">2</a>
<a href="{PRESS}?page=2" rel="next">Next page</a></nav>
<a href="#content">Back to top</a>
</main>
<aside class="sidebar"><h2>Most read</h2><ul><li><a href="/appeals/missing-person">Appeal: missing person</a></li>
<li><a href="/advice/fraud">Fraud advice</a></li></ul></aside>
<footer><ul><li><a href="/privacy">Privacy</a></li><li><a href="/accessibility">Accessibility</a></li>
<li><a href="https://www.linkedin.com/company/county-police">LinkedIn</a></li>
<li><a href="mailto:press@police.example">press@police.example</a></li></ul></footer>
</body></html>"""


def release_page(title: str, body: list[str]) -> str:
    """One press release's page."""
    return article_page(title, body, site="County Police", author="Press Office")
