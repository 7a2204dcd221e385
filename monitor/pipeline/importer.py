"""Import of clipping files: parse, match like any story, store (no page fetch, no alert unless asked)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

from monitor.store import archive
from monitor import clipping as clippings
from monitor.config import Config
from monitor.errors import ClippingError
from monitor.parse.identity import canonical_url, story_key
from monitor.match.matcher import document, matcher_for
from monitor.models import NewStory, Progress, no_progress
from monitor.pipeline.update import route_alerts, utcnow
from monitor.store.database import Store


_EXPORTED = re.compile(r"\d+_([0-9a-f]{16})\.txt")


@dataclass
class ImportResult:
    added: int = 0
    flagged: int = 0
    skipped: int = 0
    errors: list[tuple[Path, str]] = field(default_factory=list)


def import_files(config: Config, files: list[Path], *, alert: bool = False,
                 progress: Progress = no_progress) -> ImportResult:
    """Read, match and store each file; ``progress`` hears of each file done."""
    matcher = matcher_for(config)
    enabled = {n.name for n in config.notifiers if n.enabled}
    stories = archive.settings_of(config)
    result = ImportResult()
    with Store(config.database) as store:
        for done, path in enumerate(files):
            progress(done, len(files), f"{result.added} imported, {len(result.errors)} errors")
            try:
                clipping = clippings.parse(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, ClippingError) as e:
                result.errors.append((path, str(e)))
                continue
            canonical = canonical_url(clipping.url) if clipping.url else None
            if store.is_seen(canonical, None):
                result.skipped += 1
                continue
            doc = document(clipping.title, clipping.body, source=clipping.source,
                           url=clipping.url)
            matches = matcher.find_matches(doc)
            key = story_key(canonical or clipping.title)
            # A file that `monitor export` named NNN_<id>.txt keeps its id, so that
            # reading an export back never makes a second copy of a story.
            named = _EXPORTED.fullmatch(path.name)
            if named:
                key = named[1]
            if store.clipping(key) is not None:
                result.skipped += 1
                continue
            now = utcnow()
            # Grouped into stories like any story, dated by the clipping's own date: it joins
            # the stories of its own time, not those of the day it was imported.
            at = (dt.datetime.combine(clipping.date, dt.time(12), tzinfo=dt.timezone.utc)
                  if clipping.date else now)
            story = NewStory(
                clipping_id=key, clipping=clipping, text=clippings.render(clipping),
                origin="file", fingerprint="", feed_url="", guid=None, canonical=canonical,
                published=None, matches=tuple(matches),
                alerts=route_alerts(matches, config, enabled) if alert else {})
            added = archive.record_story(store, stories, story, now=now, at=at)
            result.added += added
            result.flagged += bool(added and matches)
            result.skipped += not added
        progress(len(files), len(files), f"{result.added} imported, {len(result.errors)} errors")
    return result
