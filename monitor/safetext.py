"""Text from the network made safe for a person to see: on a terminal, in a log line, in a
file opened in a spreadsheet. Pure functions, shared by the command line, the logs, the
exports and the notifiers, so that every output agrees on what is dangerous."""

from __future__ import annotations

import re

# C0 and C1 controls (ESC starts the terminal's escape sequences: clear screen, OSC 52
# clipboard writes, OSC 8 links; U+009B is a one-character CSI), DEL, the Unicode line and
# paragraph separators (a line break to Python's splitlines and some viewers) and the bidi
# embeddings, overrides and isolates, which make text read in another order than it is stored.
# Lone surrogates too: no UTF-8 output (a terminal, a log file, a test runner's pipe) can carry
# them, and a JSON feed may hold one.
UNSAFE_CHARS = "\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff"


def unsafe(keep: str = "") -> re.Pattern[str]:
    """A pattern finding the unsafe characters, but those in ``keep``."""
    return re.compile(f"(?![{re.escape(keep)}])[{UNSAFE_CHARS}]" if keep else f"[{UNSAFE_CHARS}]")


_UNSAFE_BUT_LINES = unsafe("\n\t")
# A spreadsheet reads a cell starting with one of these as a formula (=HYPERLINK(...), +cmd|...).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
# user:password@ in a URL, wherever it appears in a text.
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^\s/?#\"'<>]*)@")
MASK = "***"


def _code(m: re.Match[str]) -> str:
    return f"\\u{ord(m.group()):04x}"


def escape(text: str) -> str:
    """Every unsafe character written as ``\\uXXXX``, newlines and tabs kept (a clipping's body
    needs them). The escape is JSON's own, so applied to a line of JSON it changes nothing a
    parser reads, and applied to prose it shows what was there."""
    return _UNSAFE_BUT_LINES.sub(_code, text)


def csv_cell(value: str) -> str:
    """A CSV cell no spreadsheet runs as a formula (a leading ``'``), with no unsafe character."""
    value = escape(value)
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def mask_credentials(text: str) -> str:
    """Every ``scheme://user:password@`` in a text with its password replaced by ***; the user
    name is kept (it tells which account) unless it stands alone, where services put a token."""
    def hide(m: re.Match[str]) -> str:
        user, colon, _ = m.group(2).partition(":")
        return f"{m.group(1)}{user + ':' if colon else ''}{MASK}@"
    return _USERINFO.sub(hide, text)
