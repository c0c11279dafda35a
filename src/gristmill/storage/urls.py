"""What a URL points at, and the same URL (or any message) with its secrets masked."""

from __future__ import annotations

import re

LOCAL_PROTOCOLS = frozenset({"", "file", "local"})
MASK = "***"

# Query parameters, connection-string fields and variables that carry a secret, in any
# store's syntax; a variable's name may have a prefix (AWS_SECRET_ACCESS_KEY=...).
_SECRET_PARAMS = re.compile(
    r"(?i)\b((?:[a-z0-9]+_)*(?:sig|signature|x-amz-signature|x-amz-credential|x-amz-security-token"
    r"|x-goog-signature|x-goog-credential|sharedaccesssignature|accountkey|access_token|token|secret"
    r"|password|passwd|api_?key|(?:access|secret|private|account)_key)"
    r"|(?<=[?&])key)"  # a Google-style ?key=... query value
    r"=([^&;\s'\"]+?)(?=:?(?:[&;\s'\"]|$))"  # a colon that ends a message's clause is not the secret's
)
# Secrets in HTTP headers, as botocore's -vv lines show them: a header dict's repr
# ('X-Amz-Security-Token': b'...'), a canonical request's line (x-amz-security-token:...).
_SECRET_HEADERS = re.compile(
    r"(?i)(\b(?:x-amz-security-token|x-api-key|api-key)['\"]?\s*:\s*b?['\"]?|\bbearer\s+)([^\s'\",]+)"
)
# user:password@ in a URL, with or without its scheme (s3fs logs a bucket without one). The
# user may be empty (libpq takes postgresql://:pw@host), and the password runs to the last @ of
# the word: it may hold a raw / or @.
_USERINFO = re.compile(
    r"(?i)(\b[a-z][a-z0-9+.\-]*://|(?<![^\s'\"(\[{<=,]))([^\s'\"/@:]*):(?!//)"  # not a scheme's colon
    r"(?:[^\s'\"]*(@)|[^\s'\"@]*?(\.\.\.))"  # "...": the rest was cut off (pydantic shortens inputs)
)


def protocol(url: str) -> str:
    """``s3`` for ``s3://bucket/key``; ``""`` for a local path."""
    head, sep, _ = url.partition("://")
    return head.lower() if sep and re.fullmatch(r"[A-Za-z][A-Za-z0-9+.\-]*", head) else ""


def is_remote(url: str) -> bool:
    """True for a URL that fsspec reaches through a store (``memory://`` included)."""
    return protocol(url) not in LOCAL_PROTOCOLS


def redact(text: str) -> str:
    """``text`` with signatures, keys, tokens and passwords replaced by ``***``.

    Applied to every message that may quote a URL or a connection string: errors, the
    manifest's description of its source, the ledger's failure messages and tracebacks.
    """
    text = _USERINFO.sub(rf"\1\2:{MASK}\3\4", text)
    text = _SECRET_HEADERS.sub(rf"\1{MASK}", text)
    return _SECRET_PARAMS.sub(rf"\1={MASK}", text)


def check_password(url: str, what: str) -> None:
    """Refuse a URL whose password holds a raw ``/`` or ``@``: every parser ends the host part
    at the first ``/`` and the password at the first ``@``, and so would try to reach a host
    named after the user, or after the password's end. WHAT names the URL in the message."""
    from gristmill._exceptions import ConfigError

    rest = url.partition("://")[2]
    if not protocol(url) or not rest:
        return
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    port = authority.rpartition(":")[2]
    slash = "@" not in authority and ":" in authority and "@" in rest and not port.isdigit()
    if authority.count("@") > 1 or (slash and not authority.endswith("]")):  # "]": an IPv6 host
        raise ConfigError(
            f"{what} {redact(url)} is not a valid URL: its password holds a raw '/' or '@'; "
            "percent-encode them in the URL (/ as %2F, @ as %40)"
        )


def parent_and_name(url: str) -> tuple[str, str]:
    """A file's URL (or path) as its folder's and its name; a query string (an Azure SAS)
    stays with the folder. A URL that names a folder or a bucket and no file is refused."""
    from gristmill._exceptions import ConfigError

    base, mark, query = url.partition("?")
    parent, _, name = base.rpartition("/")
    if not name or (parent.endswith(":/") and protocol(base)):
        raise ConfigError(f"{redact(url)} names a folder, not a file; give the file's name too")
    return (parent or ("/" if base.startswith("/") else ".")) + mark + query, name
