"""A fetched page as kept for evidence: gzip-compressed, with its SHA-256. Pure.

Below the store so that the extraction workers (monitor.pipeline.analysis) can pack a page
without importing the store (and sqlite_utils) in every worker process.
"""

from __future__ import annotations

import gzip
import hashlib

# Level 6: the size of level 9 (within 0.5% on the corpus pages) for two thirds of its CPU.
GZIP_LEVEL = 6


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def compress(content: bytes) -> bytes:
    """A page as kept: gzip, with no timestamp (the same page, the same bytes)."""
    return gzip.compress(content, compresslevel=GZIP_LEVEL, mtime=0)
