"""Store stage: ``Store``, the one entry to the database (SQLite, through sqlite-utils).

Store is made of one part per aggregate, mixed in: the feeds (monitor.store.feeds), the stories
(monitor.store.stories) and the alert outbox (monitor.store.outbox); the schema and its
migrations are in monitor.store.schema. Mixins rather than one object per part because every
part shares one connection and one transaction (a story, its alerts and its grouping are
written together), and the callers keep one flat API: ``store.due_alerts(...)``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from monitor.store.base import immediate
from monitor.store.components import Components
from monitor.store.feeds import Feeds
from monitor.store.outbox import Outbox, new_claimant
from monitor.store.schema import open_database
from monitor.store.stories import StoredClipping

__all__ = ["Store", "StoredClipping"]


class Store(Feeds, Outbox, Components):
    """One SQLite database. Every method is a short statement or one transaction; ``batch()``
    makes several one. ``with Store(path) as store:`` closes it on exit."""

    def __init__(self, path: Path) -> None:
        self.db = open_database(path)
        self.path = path
        self.identity = _identity(path)
        self.claimant = new_claimant()
        self._pending: dict[str, dict[str, Any]] = {}  # buffered poll records
        self._pending_since = 0.0
        # What undoes the in-memory changes made with the transaction open (the grouping's
        # index in memory: store.archive), run if it rolls back; those of a savepoint, if it does.
        self._undo: list[Callable[[], None]] = []
        self._on_commit: list[Callable[[], None]] = []

    def close(self) -> None:
        self.flush()
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Every write inside is one transaction: all of it is stored, or none (an exception
        rolls it back and goes on). Nested batches are savepoints."""
        outermost = not self.db.conn.in_transaction
        mark = len(self._undo)
        try:
            with immediate(self.db):
                yield
        except BaseException:
            undo = self._undo[mark:]
            del self._undo[mark:]
            for fn in reversed(undo):
                fn()
            raise
        if outermost:
            self._undo.clear()
            for fn in self._on_commit:
                fn()

    def undo_on_rollback(self, fn: Callable[[], None]) -> None:
        """Call ``fn`` if the transaction open now (or its savepoint) rolls back."""
        if self.db.conn.in_transaction:
            self._undo.append(fn)

    def on_commit(self, fn: Callable[[], None]) -> None:
        """Call ``fn`` after each transaction of ``batch()`` commits."""
        self._on_commit.append(fn)

    def replaced(self) -> str | None:
        """Why the file at ``path`` is no longer the database this store writes to (deleted,
        or another file moved there), or None. Writes to a deleted file succeed and are lost
        at the close, so a long-running writer asks now and then."""
        now = _identity(self.path)
        if now is None:
            return f"the database {self.path} was deleted while in use"
        if now != self.identity:
            return f"the database {self.path} was replaced by another file while in use"
        return None

    @property
    def schema_version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])


def _identity(path: Path) -> tuple[int, int] | None:
    """The file at ``path`` (device, inode), None if there is none."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino
