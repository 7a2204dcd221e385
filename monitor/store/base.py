"""Store stage: what the parts of Store (feeds, stories, outbox) share: the connection, which
Store opens, and how times are stored (ISO 8601 text in UTC, to the second)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

import sqlite_utils

from monitor.errors import StoreError


class Part:
    """One aggregate's methods, mixed into Store, which sets ``db``."""

    db: sqlite_utils.Database

    def flush(self) -> None:
        """Write what is buffered; the feeds part buffers poll records."""


def inserted_id(table: sqlite_utils.db.Table) -> int:
    """The integer key of the row ``table.insert(...)`` just wrote."""
    if table.last_pk is None:
        raise StoreError(f"no row was inserted into {table.name}")
    return int(table.last_pk)


def iso(when: dt.datetime | None) -> str | None:
    return when.astimezone(dt.timezone.utc).isoformat(timespec="seconds") if when else None


def from_iso(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None


@contextmanager
def immediate(db: sqlite_utils.Database) -> Iterator[None]:
    """One transaction that takes the write lock at once (BEGIN IMMEDIATE): what it reads cannot
    be changed by another process before it writes. Inside a transaction, a savepoint."""
    if db.conn.in_transaction:
        with db.atomic():
            yield
        return
    db.execute("begin immediate")
    try:
        yield
    except BaseException:
        db.conn.rollback()
        raise
    db.conn.commit()
