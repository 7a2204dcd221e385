"""Store stage: a grouping signature as stored (a row of ``signatures``) and the index rows a
clipping is found under (``signature_keys``, ``signature_terms``).

Apart from monitor.store.archive, which reads and writes them through a Store, because the
schema's migration that built the index uses them too and must not import the Store.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterable, Mapping
from typing import Any

from monitor.decide.grouping import Signature, index_terms, make_signature, sketch_keys


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.timezone.utc).isoformat(timespec="seconds")


def seconds(when: dt.datetime) -> int:
    return int(when.timestamp())


def encode_signature(sig: Signature) -> dict[str, Any]:
    """The columns of a ``signatures`` row, but its clipping and story."""
    return {"at": _iso(sig.at), "sketch": json.dumps(list(sig.sketch)), "shingles": sig.shingles,
            "title_terms": json.dumps(sorted(sig.title_terms)),
            "specifics": json.dumps(sorted(sig.specifics))}


def decode_signature(row: Mapping[str, Any]) -> Signature:
    """A row of the signatures table as a Signature."""
    return make_signature(tuple(json.loads(row["sketch"])), row["shingles"],
                          frozenset(json.loads(row["title_terms"])),
                          frozenset(json.loads(row["specifics"])),
                          dt.datetime.fromisoformat(row["at"]))


def index_rows(clipping_id: str, sig: Signature) -> tuple[list[tuple[int, int, str]],
                                                           list[tuple[str, int, str]]]:
    """The rows of signature_keys and of signature_terms that a clipping is found under."""
    at = seconds(sig.at)
    return ([(k, at, clipping_id) for k in sketch_keys(sig)],
            [(t, at, clipping_id) for t in index_terms(sig)])


def write_index_rows(conn: sqlite3.Connection, keys: Iterable[tuple[int, int, str]],
                     terms: Iterable[tuple[str, int, str]]) -> None:
    conn.executemany("insert or ignore into signature_keys (key, at, clipping_id) "
                     "values (?, ?, ?)", keys)
    conn.executemany("insert or ignore into signature_terms (term, at, clipping_id) "
                     "values (?, ?, ?)", terms)
