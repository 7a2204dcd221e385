"""The review site's Datasette plugin (registered by site.make_app): the analysts' marks from
the browser, and article bodies rendered without remote images.

- render_cell: a `mark` column (the `review` table, the `story` and `clipping` pages) becomes
  the clipping's mark and a form with its buttons: relevant, not relevant, acknowledged, and
  an optional note. The form carries Datasette's CSRF token (asgi-csrf).
- POST /-/monitor/mark: writes the mark through monitor.store.marks.mark, the very function of
  `monitor mark`, then sends the browser back to the page it came from.
- render_cell, first of all plugins, for markdown columns: rendered as datasette-render-markdown
  does, but every image becomes a link to it.
"""

from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
import html
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from datasette import hookimpl
from datasette.utils.asgi import Response
from markupsafe import Markup

from monitor.config import REVIEW_DATABASE
from monitor.errors import MonitorError, StoreError
from monitor.models import short_id
from monitor.store import marks

MARK_PATH = "/-/monitor/mark"
MARK_COLUMN = "mark"
MARKDOWN_COLUMNS = ("body", "text")
NOTE_MAX = 2000  # characters; a note is a line or two, not a document
BUTTONS = (("relevant", "relevant"), ("irrelevant", "not relevant"),
           ("acknowledged", "acknowledged"))
CSRF_COOKIE = "ds_csrftoken"  # the cookie Datasette's asgi-csrf sets

F = TypeVar("F", bound=Callable[..., Any])


def hook(**options: bool) -> Callable[[F], F]:
    """Datasette's ``hookimpl`` (untyped: to mypy it would make each hook Any)."""
    return cast(Callable[[F], F], hookimpl(**options))


# How to get the request's CSRF token, for render_cell (whose hook is given no request). Set by
# actor_from_request, which Datasette calls first for every request, in the request's own task;
# called only by a page with a form, so only such a page sets asgi-csrf's cookie.
_csrftoken: contextvars.ContextVar[Callable[[], str]] = contextvars.ContextVar(
    "monitor_csrftoken", default=lambda: "")


@hook()
def actor_from_request(datasette: Any, request: Any) -> None:
    token = request.scope.get("csrftoken")
    _csrftoken.set(token if callable(token) else lambda: "")
    return None  # no actor: the site has one kind of user, let in by guard.Guard


def mark_form(clipping_id: str, label: str | None, token: str) -> Markup:
    """The mark of a clipping, and the form that changes it."""
    e = html.escape
    now = f"<strong>{e(label)}</strong>" if label else "not marked"
    buttons = "".join(f'<button type="submit" name="label" value="{value}">{text}</button> '
                      for value, text in BUTTONS)
    return Markup(
        f'<div class="monitor-mark" data-clipping="{e(clipping_id)}">{now}'
        f'<form method="post" action="{MARK_PATH}">'
        f'<input type="hidden" name="csrftoken" value="{e(token)}">'
        f'<input type="hidden" name="id" value="{e(clipping_id)}">'
        f'<input type="text" name="note" maxlength="{NOTE_MAX}" placeholder="note (optional)" '
        f'aria-label="note"> {buttons}</form></div>')


_IMG = re.compile(r"<img\b([^>]*)>", re.IGNORECASE)
_ATTR = re.compile(r'([a-zA-Z-]+)="([^"]*)"')


def images_as_links(sanitized: str) -> str:
    """Each <img> of bleach's output (attributes double-quoted and escaped) as a link to the
    image, so that showing an article loads nothing from its site."""
    def link(found: re.Match[str]) -> str:
        attrs = dict(_ATTR.findall(found.group(1)))
        src = attrs.get("src", "")
        label = attrs.get("alt") or src or "image"
        if not src:
            return f"[image: {label}]"
        return f'<a href="{src}" rel="noopener noreferrer nofollow">[image: {label}]</a>'
    return _IMG.sub(link, sanitized)


def _is_markdown(column: str) -> bool:
    return column in MARKDOWN_COLUMNS or column.endswith("_markdown")


def _row_id(row: Any) -> str | None:
    keys = row.keys() if hasattr(row, "keys") else ()
    for key in ("clipping_id", "id"):
        value = row[key] if key in keys else None
        if isinstance(value, str):
            return value
    return None


@hook(tryfirst=True)
def render_cell(row: Any, value: Any, column: str, table: str | None, database: str,
                datasette: Any) -> Markup | None:
    if database != REVIEW_DATABASE:
        return None
    if column == MARK_COLUMN and table in ("review", None):
        clipping_id = _row_id(row)
        if clipping_id is not None:
            return mark_form(clipping_id, value if isinstance(value, str) else None,
                             _csrftoken.get()())
        return None
    if isinstance(value, str) and _is_markdown(column):
        from datasette_render_markdown import render_markdown

        return Markup(images_as_links(str(render_markdown(value))))
    return None


def _back(request: Any, clipping_id: str) -> str:
    """Where the browser goes after marking: the page the form was on, when it is one of this
    site's (Referer, same host), else the clipping's page."""
    referer = urlsplit(str(request.headers.get("referer", "")))
    if referer.netloc and referer.netloc == request.headers.get("host") and \
            referer.path.startswith("/") and not referer.path.startswith("//") and \
            "\\" not in referer.path:
        return referer.path + (f"?{referer.query}" if referer.query else "")
    return f"/{REVIEW_DATABASE}/clipping?id={clipping_id}"


def _refused(status: int, text: str) -> Response:
    return Response.text(text + "\n", status=status)


async def mark_view(request: Any, datasette: Any) -> Response:
    if request.method != "POST":
        return _refused(405, "POST a mark here (the buttons of the review site do)")
    form = await request.post_vars()
    # asgi-csrf checks the token against its cookie, but lets a request with no cookie at all
    # through; a cross-site form sends none (SameSite=Lax), so the token is required here.
    cookie = request.cookies.get(CSRF_COOKIE, "")
    token = form.get("csrftoken", "")
    if not cookie or not secrets.compare_digest(cookie.encode(), token.encode()):
        return _refused(403, "refused: the form's CSRF token is missing or does not match "
                             "(reload the page and mark again)")
    clipping_id, label = form.get("id", ""), form.get("label", "")
    note = " ".join(form.get("note", "").split())[:NOTE_MAX]
    if label not in marks.LABELS:
        return _refused(400, f"expected a label among {', '.join(marks.LABELS)}")
    path = Path(datasette.get_database(REVIEW_DATABASE).path)

    def write() -> marks.Mark:
        from monitor.store.database import Store

        with Store(path) as store:
            return marks.mark(store, store.resolve_clipping(clipping_id), label, note,
                              now=dt.datetime.now(dt.timezone.utc))

    try:
        stored = await asyncio.to_thread(write)
    except StoreError as e:
        return _refused(503, f"not marked: {e}")
    except MonitorError as e:
        return _refused(404, f"not marked: {e}")
    said = f"{short_id(stored.clipping_id)} marked {stored.label}"
    datasette.add_message(request, said + (f" ({stored.note})" if stored.note else ""))
    return Response.redirect(_back(request, stored.clipping_id), status=303)


@hook()
def register_routes() -> list[tuple[str, Any]]:
    return [(f"^{re.escape(MARK_PATH)}$", mark_view)]
