"""Story identity: canonical URLs and the stable key of a story (pure).

A story is the same story when its canonical URL or its guid was seen before.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import quote
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Query parameters that only track where a click came from.
TRACKING_PARAMS = frozenset({
    "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "mc_cid", "mc_eid",
    "igshid", "_hsenc", "_hsmi", "mkt_tok", "ref_src", "cmpid", "xtor", "at_medium", "at_campaign",
    "oly_enc_id", "oly_anon_id", "vero_id", "spm", "__twitter_impression",
})
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "at_", "ns_")


def is_tracking_param(name: str) -> bool:
    lowered = name.lower()
    return lowered in TRACKING_PARAMS or lowered.startswith(TRACKING_PREFIXES)


def canonical_url(url: str) -> str:
    """Lower-case scheme and host, no default port, no fragment, no tracking parameters."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if port and not ((scheme == "http" and port == 80) or (scheme == "https" and port == 443)):
        host = f"{host}:{port}"
    if parts.username or parts.password:
        userinfo = parts.username or ""
        if parts.password:
            userinfo += f":{parts.password}"
        host = f"{userinfo}@{host}"
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                       if not is_tracking_param(k)])
    # Whitespace and control characters in the path are percent-encoded, so that the result
    # never starts or ends with characters that strip() or urlsplit() would remove next time.
    path = re.sub(r"[\x00-\x20\x7f-\x9f\s]", lambda m: quote(m.group(), safe=""), parts.path) or "/"
    return urlunsplit((scheme, host, path, query, ""))


def story_key(canonical: str) -> str:
    """16 hex digits naming a story for good: the head of the SHA-256 of its canonical URL."""
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]
