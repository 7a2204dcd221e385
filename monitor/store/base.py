"""Store stage: what the parts of Store (feeds, stories, outbox) share: the connection, which
Store opens, and how times are stored (ISO 8601 text in UTC, to the second)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

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


_INSERTS: dict[tuple[str, str, tuple[str, ...]], str] = {}


def insert_row(db: sqlite_utils.Database, table: str, row: Mapping[str, Any], *,
               verb: str = "insert") -> int:
    """Insert one row of plain values (``verb``: "insert", "insert or ignore", "insert or
    replace") into a table the schema made; its rowid. What ``Table.insert`` writes, without
    the introspection sqlite-utils does on every call, which cost more than the statement when
    a cold cycle stores thousands of stories."""
    key = (verb, table, tuple(row))
    sql = _INSERTS.get(key)
    if sql is None:
        sql = _INSERTS[key] = (f"{verb} into [{table}] ({', '.join(f'[{c}]' for c in row)}) "
                               f"values ({', '.join('?' * len(row))})")
    return int(db.conn.execute(sql, list(row.values())).lastrowid or 0)


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
