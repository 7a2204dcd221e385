"""Store stage, the daemon's parts that no feed row shows (the extraction pool): their state,
written as it changes, for `monitor status` (store.health reads it)."""

from __future__ import annotations

import datetime as dt

from monitor.store.base import Part, iso


class Components(Part):
    def set_component(self, name: str, state: str, detail: str | None, now: dt.datetime) -> None:
        """Record ``name``'s state; ``since`` moves only when the state changes."""
        with self.db.atomic():
            self.db.execute(
                "insert into components (name, state, detail, since, updated_at) "
                "values (?, ?, ?, ?, ?) on conflict (name) do update set "
                "since = case when components.state = excluded.state then components.since "
                "else excluded.since end, state = excluded.state, detail = excluded.detail, "
                "updated_at = excluded.updated_at",
                [name, state, detail, iso(now), iso(now)])
