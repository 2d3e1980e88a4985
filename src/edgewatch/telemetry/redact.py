"""Keep credentials that ride inside URLs out of the logs.

``https://user:secret@cloud.example/x`` is logged as ``https://user:***@cloud.example/x``; query parameters
whose names look secret (``token``, ``password``, ``key`` ...) have their values replaced too.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
_SECRET_PARAM = re.compile(r"(token|pass|secret|key|auth|sig|credential)", re.IGNORECASE)


def redact_url(url: str | None) -> str | None:
    """``url`` with any password and secret-looking query values masked; None stays None. A string that
    does not parse as a URL is returned with everything between ``://`` and ``@`` masked."""
    if url is None:
        return None
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, _, hostport = netloc.rpartition("@")
            user, sep, _password = userinfo.partition(":")
            netloc = f"{user}:{MASK}@{hostport}" if sep else f"{MASK}@{hostport}"
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            query = urlencode([(k, MASK if _SECRET_PARAM.search(k) else v) for k, v in pairs], safe="*")
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        return re.sub(r"://[^/@]*@", f"://{MASK}@", url)


_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^/\s:@]*)(?::[^/\s@]*)?@")


def redact_text(text: str) -> str:
    """Every ``scheme://user:password@`` inside free text with the password masked (``user:***@``); a bare
    ``scheme://secret@`` keeps nothing either way (a user name alone is not masked)."""
    return _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@" if ":" in m[0][len(m['scheme']):]
                         else m[0], text)
